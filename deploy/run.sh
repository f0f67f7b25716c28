#!/bin/bash
# deploy/run.sh [FLAGS...]: run the whole stack on this machine for a person
# to try (`make run` calls it after building). Everything lives in run/ under
# the repository: demo originals, store, Redis data, logs, sockets. FLAGS are
# passed to image-server after ours, so they override ours (e.g. -log_level
# debug).
#
#   redis-server  127.0.0.1:$REDIS_PORT (PORT+1), data in run/redis/
#   image-server  run/image-server.sock, under spawn-fcgi; pid in
#                 run/image-server.pid (a SIGUSR2 restart keeps it current)
#   nginx         127.0.0.1:$PORT (7000), with deploy/nginx/image-server.conf
#
# Stops everything it started on Ctrl-C, SIGTERM, or when one of them dies;
# a responder that restarted itself (SIGUSR2) is followed, not mourned.
set -u

cd "$(dirname "$0")/.." || exit 1
. deploy/stack.sh

run=${RUN_DIR:-$PWD/run} # RUN_DIR: for tests, which keep out of a person's run/
stack_init "$run" || exit 1
trap stack_stop EXIT
trap 'echo; echo "stopping"; exit 0' INT TERM

PORT=${PORT:-7000}
REDIS_PORT=${REDIS_PORT:-$((PORT + 1))}
for p in "$PORT" "$REDIS_PORT"; do
	if ! [[ $p =~ ^[0-9]+$ ]] || [ "$p" -lt 1 ] || [ "$p" -gt 65535 ]; then
		echo "run.sh: bad port '$p' (PORT, REDIS_PORT)" >&2
		exit 2
	fi
done

deploy/demo-source.sh "$run/demo-source" || exit 1

stack_redis "$REDIS_PORT" "$run/redis" || exit 1
stack_responder image-server -redis "127.0.0.1:$REDIS_PORT" -store "$run/store" \
	-source "file://$run/demo-source/{model}/{field}/{id}.jpg" "$@" || exit 1
stack_nginx nginx "$PORT" "$run/store" "$run/image-server.sock" || exit 1

cat <<MSG
image-server is running behind nginx on http://127.0.0.1:$PORT/
try:
  curl -s localhost:$PORT/user/avatar/3589782/w500.jpg | identify -
  curl -s localhost:$PORT/product/image/10855050/x400.webp | identify -
  curl -si localhost:$PORT/product/image/10855050/300x200-q40.jpg | head -n 8
  curl -si localhost:$PORT/user/avatar/3589782/w500.jpg | head -n 8   # 2nd time: from the store
  redis-cli -p $REDIS_PORT smembers imgsrv:outputs:user/avatar/3589782
store:  $run/store
logs:   $run/image-server.log  $run/nginx-access.log  $run/nginx-error.log
restart the responder without dropping a request: kill -USR2 \$(cat $run/image-server.pid)
Ctrl-C stops it.
MSG

# Wait for a signal, checking every second that nothing has died. The sleep
# runs in the background so that a signal is handled at once.
while stack_alive; do
	sleep 1 &
	wait $!
done
echo "run.sh: stopping the rest" >&2
exit 1
