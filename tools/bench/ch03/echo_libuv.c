/*
 * echo_libuv: an echo server on libuv 1.44, written at its best: one
 * reusable 64 KiB read buffer for all connections (alloc_cb), and
 * uv_try_write() first, so the common case neither allocates nor copies;
 * only what the kernel does not take is copied into a uv_write request.
 *
 *   echo_libuv PORT
 */
#include "../bench_util.h"

#include <string.h>
#include <uv.h>

static char read_buf[65536];

struct write_req {
    uv_write_t req;
    char data[];
};

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_close(uv_handle_t *handle)
{
    free(handle);
}

static void on_written(uv_write_t *req, int status)
{
    if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle))
        uv_close((uv_handle_t *)req->handle, on_close);
    free(req);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0) {
        if (!uv_is_closing((uv_handle_t *)stream))
            uv_close((uv_handle_t *)stream, on_close);
        return;
    }
    if (nread == 0)
        return;
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
    int done = uv_try_write(stream, &out, 1);
    if (done == nread)
        return;
    if (done < 0 && done != UV_EAGAIN) {
        uv_close((uv_handle_t *)stream, on_close);
        return;
    }
    size_t sent = done < 0 ? 0 : (size_t)done, rest = (size_t)nread - sent;
    struct write_req *w = malloc(sizeof *w + rest);
    memcpy(w->data, buf->base + sent, rest);
    uv_buf_t wb = uv_buf_init(w->data, (unsigned)rest);
    uv_write(&w->req, stream, &wb, 1, on_written);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *client = malloc(sizeof *client);
    uv_tcp_init(server->loop, client);
    if (uv_accept(server, (uv_stream_t *)client) == 0) {
        uv_tcp_nodelay(client, 1);
        uv_read_start((uv_stream_t *)client, on_alloc, on_read);
    } else {
        uv_close((uv_handle_t *)client, on_close);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: echo_libuv PORT\n");
        return 2;
    }
    long port = bench_arg(argv[1], "PORT", 1);
    bench_raise_fd_limit();
    bench_ignore_sigpipe();
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", (int)port, &addr);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) != 0 ||
        uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection) != 0) {
        fprintf(stderr, "echo_libuv: cannot listen on %ld\n", port);
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}
