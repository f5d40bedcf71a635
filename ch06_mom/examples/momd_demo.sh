#!/bin/sh
# momd_demo.sh EXAMPLE_DIR [PORT]: what `make run` shows in chapter 6.
# momd on 127.0.0.1:PORT (6380) with two I/O threads, and Redis's own
# command-line client talking to it: a subscriber that waits for two
# messages, a publisher, and a look at the broker's tables. Ends by
# itself, exit 0 when every step did.
#
# `timeout` bounds every program (--foreground: Ctrl-C still reaches
# them), and the trap stops the broker whatever happens.
set -u
bin=$1
port=${2:-6380}
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

cli() {
    timeout --foreground 10 redis-cli -p "$port" "$@"
}

timeout --foreground 60 "$bin/momd" --port "$port" --threads 2 \
    >"$dir/momd.log" 2>&1 &
server=$!
n=0
until grep -q "listening on" "$dir/momd.log"; do
    n=$((n + 1))
    if [ $n -gt 100 ] || ! kill -0 "$server" 2>/dev/null; then
        cat "$dir/momd.log"
        echo "momd did not start (is port $port taken? make run PORT=...)"
        exit 1
    fi
    sleep 0.1
done

echo "\$ redis-cli -p $port ping"
cli ping || exit 1
echo "\$ redis-cli -p $port subscribe news     (in the background)"
# Not in the foreground: the kill below must reach redis-cli through timeout.
timeout 10 redis-cli -p "$port" subscribe news >"$dir/sub.out" 2>&1 &
sub=$!
n=0
until [ "$(cli pubsub numsub news | tail -n 1)" = "1" ]; do
    n=$((n + 1))
    [ $n -gt 100 ] && { echo "the subscriber did not subscribe"; exit 1; }
    sleep 0.1
done
for text in "hello from redis-cli" "a second message"; do
    echo "\$ redis-cli -p $port publish news '$text'     (subscribers reached:)"
    cli publish news "$text" || exit 1
done
echo "\$ redis-cli -p $port pubsub channels"
cli pubsub channels
sleep 0.3
kill "$sub" 2>/dev/null
wait "$sub" 2>/dev/null
echo "What the subscriber printed (its confirmation, then each message):"
sed 's/^/  /' "$dir/sub.out"
[ "$(grep -c "^news$" "$dir/sub.out")" -eq 3 ] || {
    echo "momd_demo: the subscriber did not get both messages"
    exit 1
}

kill -TERM "$server"
wait "$server"
rc=$?
server=
echo "momd's log (SIGTERM stops it gracefully, exit status $rc):"
sed 's/^/  /' "$dir/momd.log"
exit $rc
