#!/bin/sh
# chat_demo.sh EXAMPLE_DIR [PORT]: what `make run` shows in chapter 5. A
# chat server with two I/O threads, and two clients, alice and bob, whose
# lines come from small scripts; each client's output is shown with its
# name in front, in the order it is printed. Ends by itself, exit 0 when
# all three programs did.
#
# Each script first waits until the server has seen both clients, so that
# neither misses the other's first line. `timeout` bounds every program
# (--foreground: Ctrl-C still reaches them), and the trap stops the
# server whatever happens.
set -u
bin=$1
port=${2:-9000}
dir=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null
        wait "$server"
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

timeout --foreground 60 "$bin/chat_server" "$port" 2 >"$dir/server.log" 2>&1 &
server=$!
n=0
until grep -q "listening on" "$dir/server.log"; do
    n=$((n + 1))
    if [ $n -gt 100 ] || ! kill -0 "$server" 2>/dev/null; then
        cat "$dir/server.log"
        echo "chat_server did not start"
        exit 1
    fi
    sleep 0.1
done

both_up() {
    n=0
    until [ "$(grep -c " is up" "$dir/server.log")" -ge 2 ] || [ $n -gt 100 ]; do
        n=$((n + 1))
        sleep 0.1
    done
}

# client NAME: runs a chat client on the lines of standard input, shows
# what it prints with NAME in front, and keeps its exit status.
client() {
    label=$(printf '%-5s' "$1")
    { timeout --foreground 30 "$bin/chat_client" 127.0.0.1 "$port" 2>/dev/null
      echo $? >"$dir/$1.rc"; } | sed -u "s/^/  $label prints | /"
}

(both_up; echo "alice: hi bob"; sleep 1; echo "alice: is the codec done?"
 sleep 1; echo "alice: bye"; sleep 1) | client alice &
alice=$!
(both_up; sleep 0.5; echo "bob: hi alice"; sleep 1
 echo "bob: yes: every frame arrives whole"; sleep 1.5) | client bob &
bob=$!
wait $alice $bob

kill -INT "$server"
wait "$server"
rc=$?
server=
echo "The server's log (each connection lives in one of the I/O threads):"
sed 's/^/  /' "$dir/server.log"
if [ $rc -ne 0 ] || [ "$(cat "$dir/alice.rc" "$dir/bob.rc")" != "$(printf '0\n0')" ]; then
    echo "chat_demo: a program failed (server $rc, clients" \
        "$(cat "$dir/alice.rc" "$dir/bob.rc" | tr '\n' ' '))"
    exit 1
fi
