#!/bin/bash
# tests/e2e/test_docs.sh: the documentation agrees with the program and
# with itself. The option list comes from `image-server -h` (lib/conf.c's
# table); every page that lists options is checked against it:
# image-server(8) (each option once, with the same argument, help text,
# range, default and restart-only mark), image-server.conf(5),
# deploy/image-server.conf and images(1). -h's forms and ranges are tried
# on the parser itself. The status codes, the Redis keys and the options
# have one home, image-server(8), and no Markdown page keeps a table of
# them; the README stays a front door; every relative link in README.md,
# HACKING.md and docs/*.md resolves, anchors included; HACKING.md names
# every end-to-end script and module. Needs bin/image-server, bin/images
# and mandoc. Prints "ok - ..." / "not ok - ..." per check and, last,
# "docs: N passed, M failed"; exits 1 if any check failed. Starts no
# server; work files go to tests/out/docs/.
set -u

cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=docs
trap check_finish EXIT
trap 'fail "run to the end" "interrupted"; exit 1' INT TERM

BIN=$STACK_BIN
IMAGES=${IMAGES_BIN:-$(dirname "$BIN")/images}
MAN8=man/image-server.8
MAN5=man/image-server.conf.5
MAN1=man/images.1
EXAMPLE=deploy/image-server.conf
OUT=tests/out/docs
mkdir -p "$OUT" || exit 1

[ -x "$BIN" ] && [ -x "$IMAGES" ] || die "bin/image-server and bin/images are built" "run make first"
command -v mandoc >/dev/null || die "mandoc is installed" "apt-get install mandoc"

# --- the program's own list -------------------------------------------------

# render PAGE: the page as plain text (no overstrike), one line per
# paragraph.
render() {
	mandoc -Tascii -O width=1000 "$1" | sed 's/.\x08//g'
}

# norm: lower case, no quotes, single spaces (to compare prose).
norm() {
	tr 'A-Z' 'a-z' | tr -d "\`'\"" | tr -s ' \t' '  ' | sed 's/^ //; s/ $//'
}

# One line per option of -h: NAME<TAB>ARG<TAB>HELP<TAB>MIN<TAB>MAX<TAB>DEFAULT<TAB>RESTART,
# "-" for an empty field (no ARG for a boolean, no range for a string), and
# RESTART "restart" (restart only) or "reload".
# A record is "  -name ARG", then the help after two or more spaces or on
# the lines below, which end in "(MIN to MAX, default D)" and "[restart]".
"$BIN" -h >"$OUT/h.txt" 2>&1
expect "image-server -h exits 0" "$?" 0
awk '
	function flush() { if (rec != "") print rec; rec = "" }
	/^  -/ { flush(); rec = $0; sep = ($0 ~ /^  [^ ]+( [^ ]+)?$/) ? "  " : " "; next }
	/^      / && rec != "" { sub(/^ +/, ""); rec = rec sep $0; sep = " "; next }
	{ flush() }
	END { flush() }
' "$OUT/h.txt" >"$OUT/h-records.txt"
re='^  -([a-z_]+)( ([^ ]+))?  +(.*) \((([0-9]+) to ([0-9]+), )?default ([^)]*)\)( \[restart\])?$'
: >"$OUT/opts.tsv"
unparsed=""
while IFS= read -r rec; do
	case $rec in "  -h, "* | "  -e "*) continue ;; esac
	if [[ $rec =~ $re ]]; then
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]:--}" \
			"${BASH_REMATCH[4]}" "${BASH_REMATCH[6]:--}" "${BASH_REMATCH[7]:--}" \
			"${BASH_REMATCH[8]}" "$([ -n "${BASH_REMATCH[9]}" ] && echo restart || echo reload)" >>"$OUT/opts.tsv"
	else
		unparsed="$unparsed [$rec]"
	fi
done <"$OUT/h-records.txt"
expect "every option line of -h reads as -name ARG, help, (range,) default, [restart]" \
	"${unparsed:-none}" none
OPTS=$(cut -f1 "$OUT/opts.tsv")
count=$(wc -l <"$OUT/opts.tsv")
[ "$count" -ge 30 ] && pass "-h lists $count options" ||
	fail "-h lists the options" "only $count found in $OUT/h.txt"

# field NAME COLUMN: one column of the option's line.
field() {
	awk -F'\t' -v n="$1" -v c="$2" '$1 == n { print $c }' "$OUT/opts.tsv"
}

# is_opt NAME: the program has option NAME.
is_opt() {
	cut -f1 "$OUT/opts.tsv" | grep -q -x -F -- "$1"
}

# --- -h against the parser --------------------------------------------------

forms=$(tr '\n' ' ' <"$OUT/h.txt")
[[ $forms == *"-name value, --name value, -name=value or --name=value"* ]] &&
	grep -q -E '^  -h, -help, --help ' "$OUT/h.txt" &&
	grep -q -E '^  -e [^ ]+ +same as -env$' "$OUT/h-records.txt" &&
	pass "-h names the forms -name value, --name value, -name=value, --name=value, -h and -e" ||
	fail "-h names the forms" "see $OUT/h.txt"

# try STATUS ARGS...: image-server ARGS -h exits STATUS (0: ARGS parsed,
# 2: refused), else the case is added to $bad.
bad=""
try() {
	local want=$1 got
	shift
	"$BIN" "$@" -h >/dev/null 2>&1
	got=$?
	[ "$got" = "$want" ] || bad="$bad [$* -h: exit $got, want $want]"
}
try 0 -threads 3
try 0 --threads 3
try 0 -threads=3
try 0 --threads=3
try 0 -allow_upscale
try 0 --allow_upscale=yes
for v in true false yes no 1 0; do try 0 -allow_private_sources=$v; done
try 2 -allow_upscale=maybe
try 0 -e production
try 0 -env=production
try 2 -no_such_option 1
for h in -help --help --h; do
	"$BIN" $h >/dev/null 2>&1 || bad="$bad [$h: exit $?]"
done
expect "the parser takes every form -h names, and refuses a bad boolean and an unknown name" \
	"${bad:-none}" none

bad=""
while IFS=$'\t' read -r name arg help min max def restart; do
	[ "$min" = - ] && continue
	try 0 "-$name=$min"
	try 0 "-$name=$max"
	try 2 "-$name=$((min - 1))"
	try 2 "-$name=$((max + 1))"
done <"$OUT/opts.tsv"
expect "every range -h prints is the parser's: both ends taken, one past either refused" \
	"${bad:-none}" none

bad=""
while IFS=$'\t' read -r name arg help min max def restart; do
	if [ "$def" = none ]; then try 0 "-$name="; else try 0 "-$name=$def"; fi
done <"$OUT/opts.tsv"
expect "every default -h prints is accepted as a value" "${bad:-none}" none

# --- image-server(8) --------------------------------------------------------

render "$MAN8" >"$OUT/man8.txt"
# The OPTIONS list: NAME<TAB>ARG<TAB>TEXT per entry (tag line at indent 5,
# its text below it, indented further).
awk '
	/^[A-Z]/ { inopts = ($0 == "OPTIONS"); next }
	!inopts { next }
	/^     -/ { if (tag != "") print tag "\t" text; tag = substr($0, 6); text = ""; next }
	/^       / && tag != "" { sub(/^ +/, ""); text = text " " $0; next }
	END { if (tag != "") print tag "\t" text }
' "$OUT/man8.txt" |
	while IFS=$'\t' read -r tag text; do
		first=${tag%%, *}
		name=${first%% *}
		arg=""
		[ "$first" != "$name" ] && arg=${first#* }
		printf '%s\t%s\t%s\n' "${name#-}" "$arg" "$text"
	done >"$OUT/man8-opts.tsv"

missing=""
for o in $OPTS; do
	cut -f1 "$OUT/man8-opts.tsv" | grep -q -x -F -- "$o" || missing="$missing $o"
done
expect "image-server(8) OPTIONS describes every option of -h" "${missing:-none}" none
extra=""
for o in $(cut -f1 "$OUT/man8-opts.tsv"); do
	[ "$o" = h ] || is_opt "$o" || extra="$extra $o"
done
expect "image-server(8) OPTIONS describes no option the program lacks" "${extra:-none}" none
dups=$(cut -f1 "$OUT/man8-opts.tsv" | sort | uniq -d | tr '\n' ' ')
expect "image-server(8) OPTIONS describes each option once" "${dups:-none}" none

args="" helps="" defs="" ranges="" restarts=""
while IFS=$'\t' read -r name arg help min max def restart; do
	entry=$(awk -F'\t' -v n="$name" '$1 == n' "$OUT/man8-opts.tsv" | head -1)
	[ -n "$entry" ] || continue
	marg=$(cut -f2 <<<"$entry" | tr -d ' ' | norm)
	text=$(cut -f3 <<<"$entry")
	[ "$arg" = - ] && arg=""
	[ "$marg" = "$(norm <<<"$arg")" ] || args="$args $name($marg/$arg)"
	case "$(norm <<<"$text")" in
	*"$(norm <<<"$help")"*) ;;
	*) helps="$helps $name" ;;
	esac
	if [ "$def" = none ]; then
		[[ $text =~ Default:\ none ]] || defs="$defs $name(want none)"
	else
		[[ $text =~ Default\ ([^ ]+) ]] && mdef=$(tr -d "\`'" <<<"${BASH_REMATCH[1]%.}") ||
			mdef="(none stated)"
		[ "$mdef" = "$def" ] || defs="$defs $name($mdef/$def)"
	fi
	if [ "$min" != - ]; then
		[[ $text =~ (^|[^0-9])$min\ to\ $max([^0-9]|$) ]] || ranges="$ranges $name"
	fi
	has=reload
	[[ $text =~ Restart\ only ]] && has=restart
	[ "$has" = "$restart" ] || restarts="$restarts $name"
done <"$OUT/opts.tsv"
expect "image-server(8) gives each option the argument -h gives it" "${args:-none}" none
expect "image-server(8) says each option's -h help text" "${helps:-none}" none
expect "image-server(8) states each option's default, the program's" "${defs:-none}" none
expect "image-server(8) states each number's range, the program's" "${ranges:-none}" none
expect "image-server(8) marks Restart only exactly the options -h marks [restart]" \
	"${restarts:-none}" none

# Every -option the pages name, in prose or examples, exists. flags_in:
# each -name or --name in stdin that is not part of a longer word
# (--data-binary, max-age); one-letter flags (-e, -h, spawn-fcgi's -n) are
# left out.
flags_in() {
	grep -o -E "(^|[][ (\`'\"=,])--?[a-z][a-z_]+([^a-z_-]|$)" |
		sed -E 's/^[^-]*--?//; s/[^a-z_]$//'
}
# images' own flags: those its -h lists before image-server's options.
{ "$IMAGES" -h; "$IMAGES" fetch -h; "$IMAGES" purge -h; } 2>/dev/null |
	sed -n 's/^  -\([a-z_]*\)[ ,].*/\1/p' | sort -u |
	grep -v -x -F -f <(cut -f1 "$OUT/opts.tsv"; echo e) >"$OUT/images-flags.txt"
[ -s "$OUT/images-flags.txt" ] || fail "images -h lists its own flags" "none found in $IMAGES -h"
# known NAME: an option of image-server or of images, the -name
# placeholder, or Debian's -dev packages.
known() {
	case $1 in name | help | dev) return 0 ;; esac
	is_opt "$1" || grep -q -x -F -- "$1" "$OUT/images-flags.txt"
}
unknown=""
for f in $(flags_in <"$OUT/man8.txt" | sort -u); do
	case $f in name | help) continue ;; esac
	is_opt "$f" || unknown="$unknown -$f"
done
expect "every -flag image-server(8) names is an option" "${unknown:-none}" none

# --- status codes and Redis keys: one home ----------------------------------

awk '
	/^[A-Z]/ { in_s = ($0 == "STATUS CODES"); next }
	in_s && /^     [1-5][0-9][0-9]( |$)/ { print $1 }
' "$OUT/man8.txt" | sort -u >"$OUT/man8-status.txt"
codes=$( (grep -o -E '\{ *[1-5][0-9][0-9],' fcgi/status.c | tr -dc '0-9\n'; echo 201) | sort -u)
missing=""
for c in $codes; do
	grep -q -x "$c" "$OUT/man8-status.txt" || missing="$missing $c"
done
expect "image-server(8) STATUS CODES has every status of fcgi/status.c, and 201" \
	"${missing:-none}" none

MD=(README.md HACKING.md docs/*.md)
tables=$(grep -n -E '^\| *`?[1-5][0-9][0-9]`? *\|' "${MD[@]}" 2>/dev/null | awk -F: '!seen[$1]++ { printf "%s:%s ", $1, $2 }')
expect "no Markdown page keeps a status-code table (image-server(8) is its home)" \
	"${tables:-none}" none
tables=$(grep -n -E '^\| *`imgsrv:' "${MD[@]}" 2>/dev/null | awk -F: '!seen[$1]++ { printf "%s:%s ", $1, $2 }')
expect "no Markdown page keeps a Redis key table (image-server(8) is its home)" \
	"${tables:-none}" none
tables=$(grep -n -E '^\| *`-[a-z_]+`' "${MD[@]}" 2>/dev/null | awk -F: '!seen[$1]++ { printf "%s:%s ", $1, $2 }')
expect "no Markdown page keeps an option table (image-server(8) is its home)" \
	"${tables:-none}" none

# --- image-server.conf(5) ---------------------------------------------------

missing=""
for o in $OPTS; do
	[ "$o" = config ] && continue
	grep -q "^\.It Ic $o " "$MAN5" || missing="$missing $o"
done
expect "image-server.conf(5) lists every option of -h but config" "${missing:-none}" none
extra=""
for o in $(sed -n 's/^\.It Ic \([a-z_]*\).*/\1/p' "$MAN5"); do
	is_opt "$o" || extra="$extra $o"
done
expect "image-server.conf(5) lists no option the program lacks" "${extra:-none}" none
# Restart only: the entry's lines up to the next .It.
restarts=""
while IFS=$'\t' read -r name arg help min max def restart; do
	[ "$name" = config ] && continue
	has=$(awk -v n="$name" '
		/^\.It / { inside = ($2 == "Ic" && $3 == n); next }
		/^\.(El|Ss|Sh)/ { inside = 0 }
		inside && /Restart only/ { print "restart"; exit }
	' "$MAN5")
	has=${has:-reload}
	[ "$has" = "$restart" ] || restarts="$restarts $name"
done <"$OUT/opts.tsv"
expect "image-server.conf(5) marks Restart only exactly the options -h marks [restart]" \
	"${restarts:-none}" none
unknown=""
for f in $(render "$MAN5" | flags_in | sort -u); do
	known "$f" || unknown="$unknown -$f"
done
expect "every -flag image-server.conf(5) names is an option" "${unknown:-none}" none

# --- the example configuration ----------------------------------------------

# NAME<US>VALUE<US>COMMENT for each "#name value" line (US: the unit
# separator, as VALUE may be empty); COMMENT is the comment block above it
# (two options may share one).
awk '
	/^# / || /^#$/ { if (!incomment) block = ""; incomment = 1; block = block " " substr($0, 2); next }
	/^#[a-z_]+( |$)/ {
		incomment = 0
		name = substr($1, 2); value = $0; sub(/^#[a-z_]+ ?/, "", value)
		print name "\037" value "\037" block; next
	}
	/^$/ { incomment = 0; block = "" }
' "$EXAMPLE" >"$OUT/example.tsv"
missing=""
for o in $OPTS; do
	[ "$o" = config ] && continue
	cut -d$'\x1f' -f1 "$OUT/example.tsv" | grep -q -x -F -- "$o" || missing="$missing $o"
done
expect "deploy/image-server.conf shows every option of -h but config" "${missing:-none}" none
extra=""
for o in $(cut -d$'\x1f' -f1 "$OUT/example.tsv"); do
	is_opt "$o" || extra="$extra $o"
done
expect "deploy/image-server.conf shows no option the program lacks" "${extra:-none}" none
defs="" restarts=""
while IFS=$'\x1f' read -r name value comment; do
	def=$(field "$name" 6)
	restart=$(field "$name" 7)
	[ -n "$def" ] || continue
	if [ "$def" = none ]; then
		[ -z "$value" ] || [[ $comment =~ Default:\ none ]] ||
			defs="$defs $name(example '$value' without 'Default: none')"
	else
		[ "$value" = "$def" ] || defs="$defs $name($value/$def)"
	fi
	has=reload
	[[ $comment =~ \[restart\] ]] && has=restart
	[ "$has" = "$restart" ] || restarts="$restarts $name"
done <"$OUT/example.tsv"
expect "deploy/image-server.conf shows each option at the program's default (or says Default: none)" \
	"${defs:-none}" none
expect "deploy/image-server.conf marks [restart] exactly the options -h marks" \
	"${restarts:-none}" none

# --- images(1) --------------------------------------------------------------

unknown=""
for f in $(render "$MAN1" | flags_in | sort -u); do
	known "$f" || unknown="$unknown -$f"
done
expect "every -flag images(1) names is an option of images or of image-server" \
	"${unknown:-none}" none
render "$MAN1" | awk '/^[A-Z]/ { inopts = ($0 == "OPTIONS") } inopts && /^     -/' >"$OUT/man1-tags.txt"
missing=""
for f in $(cat "$OUT/images-flags.txt"); do
	grep -q -E -- "(^|[ ,])-$f( |,|$)" "$OUT/man1-tags.txt" || missing="$missing -$f"
done
expect "images(1) describes every flag images -h lists" "${missing:-none}" none

# --- the Markdown pages -----------------------------------------------------

lines=$(wc -l <README.md)
[ "$lines" -le 250 ] && pass "README.md stays a front door ($lines lines, at most 250)" ||
	fail "README.md stays a front door" "$lines lines, want at most 250"

# Flags in inline code (`-name ...`) and in command lines of code blocks
# that run image-server or images (with their continuation lines).
md_flags() {
	awk '
		/^```/ { fence = !fence; cont = 0; next }
		fence {
			line = $0; sub(/^[ \t$#]*(sudo )?/, "", line)
			split(line, w, " "); n = w[1]; sub(/.*\//, "", n)
			if (cont || n == "image-server" || n == "images" || line ~ /ARGS=/) print line
			cont = ($0 ~ /\\$/) && (cont || n == "image-server" || n == "images")
			next
		}
		{ while (match($0, /`-[^`]*`/)) { print substr($0, RSTART, RLENGTH); $0 = substr($0, RSTART + RLENGTH) } }
	' "$1" | flags_in
}
unknown=""
for f in "${MD[@]}"; do
	for fl in $(md_flags "$f" | sort -u); do
		known "$fl" || unknown="$unknown $f:-$fl"
	done
done
expect "every -flag the Markdown pages name is an option of image-server or images" \
	"${unknown:-none}" none

# slug HEADING: GitHub's anchor for a heading.
slug() {
	tr 'A-Z' 'a-z' <<<"$1" | sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'
}
# anchors FILE: the anchors of a Markdown file's headings.
anchors() {
	awk '/^```/ { fence = !fence } !fence && /^#+ / { sub(/^#+ +/, ""); print }' "$1" |
		while IFS= read -r h; do slug "$h"; done
}
broken=""
for f in "${MD[@]}"; do
	[ -f "$f" ] || continue
	dir=$(dirname "$f")
	for link in $(grep -o -E '\]\([^) ]+\)' "$f" | sed -E 's/^\]\(//; s/\)$//'); do
		case $link in http://* | https://* | mailto:*) continue ;; esac
		path=${link%%#*}
		anchor=""
		[[ $link == *#* ]] && anchor=${link#*#}
		target=$f
		if [ -n "$path" ]; then
			target=$dir/$path
			[ -e "$target" ] || { broken="$broken $f:$link"; continue; }
		fi
		if [ -n "$anchor" ] && [[ $target == *.md ]]; then
			anchors "$target" | grep -q -x -F -- "$anchor" || broken="$broken $f:$link"
		fi
	done
done
expect "every relative link in README.md, HACKING.md and docs/*.md resolves (anchors too)" \
	"${broken:-none}" none

orphans=""
for f in docs/*.md HACKING.md; do
	grep -q -E "\]\(($f|\./$f)(#[^)]*)?\)" README.md || orphans="$orphans $f"
done
expect "README.md links every guide and HACKING.md" "${orphans:-none}" none

# --- HACKING.md knows the tree ----------------------------------------------

# tracked PATTERN: the files git tracks (work in progress aside), else all.
tracked() {
	git ls-files "$1" 2>/dev/null | grep . || ls $1 2>/dev/null
}
missing=""
for t in $(tracked 'tests/e2e/test_*.sh'); do
	grep -q -F "| \`$(basename "$t")\` |" HACKING.md || missing="$missing $(basename "$t")"
done
expect "HACKING.md has a row for every end-to-end script" "${missing:-none}" none
layout=$(awk '/^## Layout/ { on = 1 } on && /^```/ { if (fence) exit; fence = 1; next } fence' HACKING.md)
missing=""
for c in $(tracked 'lib/*.c') $(tracked 'fcgi/*.c'); do
	m=$(basename "$c" .c)
	case $c in fcgi/*) m=$m.c ;; esac
	grep -q -w -F -- "$m" <<<"$layout" || missing="$missing $c"
done
expect "HACKING.md's layout names every module of lib/ and file of fcgi/" "${missing:-none}" none
