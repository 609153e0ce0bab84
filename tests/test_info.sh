#!/bin/sh
# test_info: gallocy-info lists every option of src/options.def, as text and as JSON, with
# its current value from the environment, and refuses a bad value by name.
#   usage: test_info.sh GALLOCY_INFO OPTIONS_DEF
info=$1
def=$2
. "$(dirname "$0")/verdicts.sh"
names=$(sed -n 's/^GALLOCY_OPTION(\([A-Z_]*\),.*/GALLOCY_\1/p' "$def")
count=$(echo "$names" | grep -c GALLOCY_)
text=$("$info")
json=$(env -u GALLOCY_HEAP_SIZE GALLOCY_PREFETCH=3 "$info" --json)

st=0
[ "$count" -ge 8 ] || st=1
for n in $names; do
    echo "$text" | grep -q "^$n " || { echo "text lacks $n"; st=1; }
done
verdict "info: text lists all $count options of the table" $st

st=0
for n in $names; do
    echo "$json" | grep -q "{\"name\": \"$n\"" || { echo "JSON lacks $n"; st=1; }
done
[ "$(echo "$json" | grep -c '{"name": "GALLOCY_')" -eq "$count" ] || st=1
verdict "info: JSON lists each option once" $st

st=0
opens=$(printf '%s' "$json" | tr -cd '{' | wc -c)
closes=$(printf '%s' "$json" | tr -cd '}' | wc -c)
sq_open=$(printf '%s' "$json" | tr -cd '[' | wc -c)
sq_close=$(printf '%s' "$json" | tr -cd ']' | wc -c)
[ "$opens" -eq "$closes" ] && [ "$sq_open" -eq "$sq_close" ] || st=1
[ "$(printf '%s' "$json" | head -c 1)" = "{" ] && [ "$(printf '%s' "$json" | tail -c 1)" = "}" ] || st=1
for key in '"version": "' '"build": {"cc": "' '"transports": {"built": [' \
           '"rdma_devices": [' '"topology": {"packages": '; do
    echo "$json" | grep -qF "$key" || { echo "JSON lacks $key"; st=1; }
done
for key in 'gallocy ' 'build: ' 'transports:' 'RDMA devices:' 'topology: '; do
    echo "$text" | grep -qF "$key" || { echo "text lacks $key"; st=1; }
done
verdict "info: JSON is balanced; both say version, build, transports, devices, topology" $st
# The transports built (the registry, highest priority first): the same in text and JSON, mpi
# always among them, and auto takes one of them.
st=0
text_built=$(echo "$text" | sed -n 's/^  \([a-z]*\) *built: .*/\1/p' | tr '\n' ' ')
json_built=$(echo "$json" | sed -n 's/.*"transports": {"built": \[\([^]]*\)\].*/\1/p' | tr -d '",')
json_auto=$(echo "$json" | sed -n 's/.*"transports": {.*"auto": "\([a-z]*\)".*/\1/p')
[ -n "$json_built" ] && [ "$text_built" = "$json_built " ] || { echo "built: text '$text_built', JSON '$json_built'"; st=1; }
case " $json_built " in *" mpi "*) ;; *) echo "mpi is not built"; st=1 ;; esac
case " $json_built " in *" $json_auto "*) ;; *) echo "auto takes '$json_auto', not built"; st=1 ;; esac
echo "$text" | grep -q "^  auto   takes: $json_auto\( (.*)\)\?\$" || { echo "text auto is not $json_auto"; st=1; }
verdict "info: transports built (text = JSON: $json_built), mpi among them, auto takes one" $st

st=0
echo "$json" | grep '"GALLOCY_PREFETCH"' | grep -q '"current": 3, "set": true' || st=1
echo "$json" | grep '"GALLOCY_HEAP_SIZE"' | grep -q '"default": "1G", "current": 1073741824, "set": false' || st=1
verdict "info: current values follow the environment" $st

st=0
out=$(GALLOCY_PREFETCH=lots "$info" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "GALLOCY_PREFETCH=lots is not an integer" || st=1
verdict "info: a bad value is refused by name" $st

# The fault ways: mprotect is always there; auto takes uffd exactly when uffd is available;
# text and JSON say the same.
st=0
fj=$(echo "$json" | grep '^  "faults": {"available": \[')
[ -n "$fj" ] || { echo "JSON lacks faults"; st=1; }
echo "$fj" | grep -q '"mprotect"\], "auto": "' || st=1
if echo "$fj" | grep -q '\["uffd"'; then auto=uffd; else auto=mprotect; fi
echo "$fj" | grep -q "\"auto\": \"$auto\"" || { echo "JSON auto is not $auto"; st=1; }
echo "$text" | grep -q "^  auto      takes: $auto\$" || { echo "text auto is not $auto"; st=1; }
for w in uffd sigbus mprotect; do
    in_json=0 in_text=0
    echo "$fj" | grep -q "\"$w\"," && in_json=1
    [ $w = mprotect ] && in_json=1
    echo "$text" | grep -q "^  $w *yes: " && in_text=1
    [ $in_json -eq $in_text ] || { echo "text and JSON disagree on $w"; st=1; }
done
verdict "info: fault ways: mprotect always, auto takes uffd when it is there, text = JSON" $st

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
