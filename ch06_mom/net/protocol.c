#include "net/protocol.h"

#include "base/assertion.h"
#include "base/list.h"
#include "base/log.h"
#include "net/buffer.h"
#include "net/event_loop.h"
#include "net/tcp_client.h"
#include "net/tcp_conn.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* One block per connection: this header, then the user's state. */
struct protocol {
    /* Immutable: set when the connection comes up. */
    struct tcp_conn *conn; /* lives at least until the down callback ends */
    struct event_loop *loop;
    const struct protocol_factory *factory;

    /* Loop thread only. */
    struct list_node calls; /* pending delayed calls (struct delayed) */
    size_t call_count;
    uint64_t close_timer; /* 0 unless protocol_close() waits for the peer */
    int depth;            /* operations of this instance now running */
    bool closing;         /* close or abort asked: input is dropped */
    bool lost_pending;    /* went down inside an operation (see run_lost) */
    bool lost;            /* connection_lost started */

    _Alignas(max_align_t) unsigned char state[];
};

/* A pending delayed call. Freed before it runs, when cancelled, or when
 * its instance is lost. */
struct delayed {
    struct list_node link; /* in protocol.calls */
    struct protocol *p;
    protocol_call_fn *fn;
    void *arg;
    uint64_t id; /* the loop's timer id */
};

/* --- instance life --------------------------------------------------------- */

static void drop_call(struct protocol *p, struct delayed *call)
{
    list_remove(&call->link);
    p->call_count--;
    free(call);
}

/* The end of an instance: its delayed calls and close timer go first, so
 * that nothing of it can run after connection_lost; then the block. */
static void run_lost(struct protocol *p)
{
    p->lost = true;
    struct list_node *node, *next;
    list_for_each_safe(node, next, &p->calls) {
        struct delayed *call = container_of(node, struct delayed, link);
        event_loop_cancel_timer(p->loop, call->id);
        drop_call(p, call);
    }
    if (p->close_timer != 0)
        event_loop_cancel_timer(p->loop, p->close_timer);
    p->close_timer = 0;
    tcp_conn_set_context(p->conn, NULL);
    if (p->factory->ops->connection_lost != NULL)
        p->factory->ops->connection_lost(p);
    free(p);
}

/* Around every user code of an instance. The connection only goes down
 * from the loop, after the current callback, except when memory runs out
 * (tcp_conn then closes at once, inside a send): the down callback then
 * finds the instance busy, and connection_lost waits until the outermost
 * operation returns, so that it never runs nested and the user's code
 * never continues on a freed instance. */
static void enter(struct protocol *p)
{
    p->depth++;
}

static void leave(struct protocol *p)
{
    if (--p->depth == 0 && p->lost_pending)
        run_lost(p);
}

static struct protocol *instance_new(struct tcp_conn *conn,
                                     const struct protocol_factory *factory)
{
    if (factory->state_size > SIZE_MAX - sizeof(struct protocol))
        return NULL;
    struct protocol *p = calloc(1, sizeof *p + factory->state_size);
    if (p == NULL)
        return NULL;
    p->conn = conn;
    p->loop = tcp_conn_loop(conn);
    p->factory = factory;
    list_init(&p->calls);
    return p;
}

/* --- the tcp_callbacks ------------------------------------------------------ */

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    const struct protocol_factory *factory = ctx;
    if (tcp_conn_connected(conn)) {
        struct protocol *p = instance_new(conn, factory);
        if (p == NULL) {
            log_error("%s: no memory for its protocol; closing",
                      tcp_conn_name(conn));
            tcp_conn_force_close(conn);
            return;
        }
        tcp_conn_set_context(conn, p);
        if (factory->ops->connection_made != NULL) {
            enter(p);
            factory->ops->connection_made(p);
            leave(p);
        }
        return;
    }
    struct protocol *p = tcp_conn_context(conn);
    if (p == NULL) /* it never had an instance */
        return;
    if (p->depth > 0)
        p->lost_pending = true;
    else
        run_lost(p);
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    (void)receive_time_us;
    (void)ctx;
    struct protocol *p = tcp_conn_context(conn);
    /* After a close, input is read only to see the peer's end. */
    if (p != NULL && !p->closing && !p->lost_pending &&
        p->factory->ops->data_received != NULL) {
        enter(p);
        p->factory->ops->data_received(p, buffer_peek(input),
                                       buffer_readable(input));
        leave(p);
    }
    buffer_retrieve_all(input);
}

void protocol_callbacks(const struct protocol_factory *factory,
                        struct tcp_callbacks *callbacks)
{
    ASSERT(factory->ops != NULL);
    /* The factory is shared by every connection and never written: the
     * const is cast away only to travel as the callbacks' ctx. */
    *callbacks = (struct tcp_callbacks){
        .on_connection = on_connection,
        .on_message = on_message,
        .ctx = (void *)factory,
    };
}

void protocol_server_attach(struct tcp_server *server,
                            const struct protocol_factory *factory)
{
    struct tcp_callbacks callbacks;
    protocol_callbacks(factory, &callbacks);
    tcp_server_set_callbacks(server, &callbacks);
}

void protocol_client_attach(struct tcp_client *client,
                            const struct protocol_factory *factory)
{
    struct tcp_callbacks callbacks;
    protocol_callbacks(factory, &callbacks);
    tcp_client_set_callbacks(client, &callbacks);
}

/* --- writing and closing --------------------------------------------------- */

int protocol_write(struct protocol *p, const void *data, size_t len)
{
    return tcp_conn_send(p->conn, data, len);
}

static void close_timed_out(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct protocol *p = ctx;
    (void)loop;
    (void)id;
    p->close_timer = 0;
    log_warn("%s: the peer did not close in time; cutting it off",
             tcp_conn_name(p->conn));
    tcp_conn_force_close(p->conn);
}

void protocol_close(struct protocol *p)
{
    event_loop_assert_in_loop_thread(p->loop);
    if (p->closing || p->lost)
        return;
    p->closing = true;
    tcp_conn_shutdown(p->conn);
    int64_t timeout = p->factory->close_timeout_us;
    if (timeout == 0)
        timeout = PROTOCOL_CLOSE_TIMEOUT_US;
    if (timeout < 0)
        return;
    p->close_timer = event_loop_run_after(p->loop, timeout, close_timed_out, p);
    if (p->close_timer == 0)
        log_warn("%s: no close timeout (no memory): waiting for the peer",
                 tcp_conn_name(p->conn));
}

void protocol_abort(struct protocol *p)
{
    event_loop_assert_in_loop_thread(p->loop);
    if (p->lost)
        return;
    p->closing = true;
    tcp_conn_force_close(p->conn);
}

/* --- delayed calls ----------------------------------------------------------- */

/* The call leaves the instance's list before it runs: it may then make
 * new calls, or cancel its own id harmlessly. */
static void call_fired(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct delayed *call = ctx;
    (void)loop;
    (void)id;
    struct protocol *p = call->p;
    protocol_call_fn *fn = call->fn;
    void *arg = call->arg;
    drop_call(p, call);
    enter(p);
    fn(p, arg);
    leave(p);
}

uint64_t protocol_call_later(struct protocol *p, int64_t delay_us,
                             protocol_call_fn *fn, void *arg)
{
    event_loop_assert_in_loop_thread(p->loop);
    if (p->lost || p->lost_pending) {
        errno = ENOTCONN;
        return 0;
    }
    if (fn == NULL) {
        errno = EINVAL;
        return 0;
    }
    struct delayed *call = malloc(sizeof *call);
    if (call == NULL) {
        errno = ENOMEM;
        return 0;
    }
    *call = (struct delayed){.p = p, .fn = fn, .arg = arg};
    call->id = event_loop_run_after(p->loop, delay_us, call_fired, call);
    if (call->id == 0) {
        free(call); /* errno from the timer queue */
        return 0;
    }
    list_push_back(&p->calls, &call->link);
    p->call_count++;
    return call->id;
}

int protocol_cancel(struct protocol *p, uint64_t id)
{
    event_loop_assert_in_loop_thread(p->loop);
    struct list_node *node;
    list_for_each(node, &p->calls) {
        struct delayed *call = container_of(node, struct delayed, link);
        if (call->id == id) {
            event_loop_cancel_timer(p->loop, id);
            drop_call(p, call);
            return 0;
        }
    }
    return -ENOENT;
}

size_t protocol_pending_calls(const struct protocol *p)
{
    return p->call_count;
}

/* --- accessors ---------------------------------------------------------------- */

void *protocol_state(const struct protocol *p)
{
    /* The state is the user's to change through a const instance. */
    return p->factory->state_size == 0 ? NULL : (void *)p->state;
}

void *protocol_factory_ctx(const struct protocol *p)
{
    return p->factory->ctx;
}

struct tcp_conn *protocol_connection(const struct protocol *p)
{
    return p->conn;
}

struct event_loop *protocol_loop(const struct protocol *p)
{
    return p->loop;
}
