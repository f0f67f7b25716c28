#!/bin/bash
# deploy/run.sh [FLAGS...]: run the whole stack on this machine for a person
# to try (`make run` calls it after building). Everything lives in run/ under
# the repository: demo originals, store, logs, sockets. FLAGS are passed to
# image-server after ours, so they override ours (e.g. -log_level debug).
#
#   redis-server  127.0.0.1:7001  (the responder's registry and locks)
#   image-server  run/image-server.sock, under spawn-fcgi
#   nginx         127.0.0.1:7000, with deploy/nginx/image-server.conf
#
# Stops everything it started on Ctrl-C, SIGTERM, or when one of them dies.
set -u

cd "$(dirname "$0")/.." || exit 1
. deploy/stack.sh

run=$PWD/run
stack_init "$run" || exit 1
trap stack_stop EXIT
trap 'echo; echo "stopping"; exit 0' INT TERM

deploy/demo-source.sh "$run/demo-source" || exit 1

stack_redis 7001 || exit 1
stack_responder image-server -redis 127.0.0.1:7001 -store "$run/store" \
	-source "file://$run/demo-source/{model}/{field}/{id}.jpg" "$@" || exit 1
stack_nginx nginx 7000 "$run/store" "$run/image-server.sock" || exit 1

cat <<MSG
image-server is running behind nginx on http://127.0.0.1:7000/
try:
  curl -s localhost:7000/user/avatar/3589782/w500.jpg | identify -
  curl -s localhost:7000/product/image/10855050/x400.webp | identify -
  curl -si localhost:7000/product/image/10855050/300x200-q40.jpg | head -n 8
  curl -si localhost:7000/user/avatar/3589782/w500.jpg | head -n 8   # 2nd time: from the store
store:  $run/store
logs:   $run/image-server.log  $run/nginx-access.log  $run/nginx-error.log
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
