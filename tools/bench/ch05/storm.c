/*
 * storm: the reconnect storm. N clients (tcp_client, spread over T loop
 * threads) connect to one server; then the server drops them all at once,
 * and times the reconnections as they arrive.
 *
 *   storm -n CLIENTS -T THREADS -m jitter|immediate
 *
 * jitter:    tcp_client_set_retry(): each client comes back after a random
 *            wait below the connector's initial delay (500 ms).
 * immediate: no wait: each client connects again from its down callback,
 *            which is what a reconnect without jitter does.
 *
 * Prints one line: mode, clients, the time until all were back (ms), and
 * the most reconnections the server accepted in any 10 ms window.
 */
#include "../bench_util.h"

#include "base/log.h"
#include "net/event_loop.h"
#include "net/event_loop_pool.h"
#include "net/tcp_client.h"
#include "net/tcp_server.h"

#include <string.h>
#include <unistd.h>

#define WINDOW_US 10000.0
#define TIMEOUT_US 20e6

struct storm {
    int clients;
    bool immediate;
    int ups;               /* server side, base loop */
    struct tcp_conn **conns; /* the first generation, with references */
    double dropped_at;
    double *back_at;       /* arrival times of the second generation */
};

static void server_connection(struct tcp_conn *conn, void *ctx)
{
    struct storm *s = ctx;
    if (!tcp_conn_connected(conn))
        return;
    if (s->ups < s->clients) {
        tcp_conn_ref(conn);
        s->conns[s->ups] = conn;
    } else if (s->ups < 2 * s->clients) {
        s->back_at[s->ups - s->clients] = bench_now_us();
    }
    s->ups++;
}

static void client_connection(struct tcp_conn *conn, void *ctx)
{
    struct tcp_client *client = ctx;
    if (!tcp_conn_connected(conn))
        (void)tcp_client_connect(client); /* only set in immediate mode */
}

static void check_done(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct storm *s = ctx;
    (void)id;
    if (s->ups >= 2 * s->clients ||
        (s->dropped_at > 0 && bench_now_us() - s->dropped_at > TIMEOUT_US))
        event_loop_quit(loop);
    if (s->dropped_at == 0 && s->ups == s->clients) {
        s->dropped_at = bench_now_us();
        for (int i = 0; i < s->clients; i++) {
            tcp_conn_force_close(s->conns[i]);
            tcp_conn_unref(s->conns[i]);
        }
    }
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int clients = 1000, threads = 2, opt;
    const char *mode = "jitter";
    while ((opt = getopt(argc, argv, "n:T:m:")) != -1) {
        switch (opt) {
        case 'n': clients = (int)bench_arg(optarg, "-n", 1); break;
        case 'T': threads = (int)bench_arg(optarg, "-T", 1); break;
        case 'm': mode = optarg; break;
        default:
            fprintf(stderr, "usage: storm -n CLIENTS -T THREADS "
                            "-m jitter|immediate\n");
            return 2;
        }
    }
    if (strcmp(mode, "jitter") != 0 && strcmp(mode, "immediate") != 0) {
        fprintf(stderr, "bad -m: '%s' (jitter or immediate)\n", mode);
        return 2;
    }
    bench_raise_fd_limit();
    bench_ignore_sigpipe();
    log_set_level(LOG_LEVEL_WARN);
    struct storm s = {.clients = clients,
                      .immediate = strcmp(mode, "immediate") == 0};
    s.conns = calloc((size_t)clients, sizeof *s.conns);
    s.back_at = calloc((size_t)clients, sizeof *s.back_at);
    struct event_loop *loop = event_loop_new();
    struct inet_address addr;
    inet_address_loopback(&addr, 0, false);
    struct tcp_server *server = tcp_server_new(loop, &addr, "storm", 0);
    if (s.conns == NULL || s.back_at == NULL || loop == NULL ||
        server == NULL) {
        fprintf(stderr, "storm: cannot set up\n");
        return 1;
    }
    struct tcp_callbacks server_cb = {.on_connection = server_connection,
                                      .ctx = &s};
    tcp_server_set_callbacks(server, &server_cb);
    if (tcp_server_start(server) != 0 ||
        tcp_server_listen_address(server, &addr) != 0)
        return 1;
    struct event_loop_pool *pool = event_loop_pool_new(loop);
    if (pool == NULL || event_loop_pool_start(pool, threads, NULL, NULL) != 0)
        return 1;
    struct tcp_client **all = calloc((size_t)clients, sizeof *all);
    for (int i = 0; i < clients; i++) {
        all[i] = tcp_client_new(event_loop_pool_next(pool), &addr, "storm");
        if (all[i] == NULL)
            return 1;
        struct tcp_callbacks cb = {
            .on_connection = s.immediate ? client_connection : NULL,
            .ctx = all[i]};
        tcp_client_set_callbacks(all[i], &cb);
        tcp_client_set_retry(all[i], !s.immediate);
        (void)tcp_client_connect(all[i]);
    }
    uint64_t tick = event_loop_run_every(loop, 1000, check_done, &s);
    event_loop_run(loop);
    event_loop_cancel_timer(loop, tick);
    int back = s.ups - clients;
    qsort(s.back_at, (size_t)back, sizeof *s.back_at, compare_doubles);
    int peak = 0;
    for (int i = 0, j = 0; i < back; i++) {
        while (s.back_at[i] - s.back_at[j] >= WINDOW_US)
            j++;
        peak = i - j + 1 > peak ? i - j + 1 : peak;
    }
    double all_back_ms =
        back > 0 ? (s.back_at[back - 1] - s.dropped_at) / 1000.0 : -1;
    printf("%s %d %d %.1f %d\n", mode, clients, back, all_back_ms, peak);
    for (int i = 0; i < clients; i++)
        tcp_client_free(all[i]);
    event_loop_pool_free(pool);
    tcp_server_free(server);
    event_loop_free(loop);
    free(all);
    free(s.conns);
    free(s.back_at);
    return back == clients ? 0 : 1;
}
