/* The commands brokers send each other (the table is in peer_commands.h). */
#include "mom/peer_commands.h"

#include "base/log.h"
#include "mom/broker_internal.h"
#include "mom/peers.h"
#include "mom/reply.h"
#include "mom/session.h"
#include "mom/shard.h"
#include "net/tcp_conn.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longest epoch: 20 digits hold any uint64_t. */
#define EPOCH_DIGITS_MAX 20

/* A command is encoded as a reply array is (reply.h); the encoders
 * leave running out of memory to the buffer's owner, as replies do. */
static void bulk(struct buffer *out, const char *data, size_t len)
{
    struct reply r = {.buf = out, .err = 0};
    reply_bulk(&r, data, len);
}

void peer_command_begin(struct buffer *out, const char *verb, size_t args)
{
    struct reply r = {.buf = out, .err = 0};
    reply_array(&r, args + 1);
    reply_bulk_cstr(&r, verb);
}

void peer_command_arg(struct buffer *out, const char *arg)
{
    bulk(out, arg, strlen(arg));
}

void peer_command_hello(struct buffer *out, const char *node, uint64_t epoch,
                        const char *addr, const char *password)
{
    char text[EPOCH_DIGITS_MAX + 1];
    snprintf(text, sizeof text, "%" PRIu64, epoch);
    peer_command_begin(out, "PEER", password != NULL ? 4 : 3);
    peer_command_arg(out, node);
    peer_command_arg(out, text);
    peer_command_arg(out, addr);
    if (password != NULL)
        peer_command_arg(out, password);
}

/* A bulk string's bytes: `$<len>\r\n<bytes>\r\n`. */
static size_t bulk_size(size_t len)
{
    size_t digits = 1;
    for (size_t n = len; n >= 10; n /= 10)
        digits++;
    return 1 + digits + 2 + len + 2;
}

size_t peer_command_rpub_size(size_t channel_len, size_t payload_len)
{
    return strlen("*3\r\n") + bulk_size(strlen("RPUB")) +
           bulk_size(channel_len) + bulk_size(payload_len);
}

/* The number of the header line at @p at (`*<n>` or `$<n>`); @p *after
 * is set to the byte after its "\r\n". */
static size_t header_number(const char *at, const char **after)
{
    size_t n = 0;
    for (at++; *at != '\r'; at++)
        n = n * 10 + (size_t)(*at - '0');
    *after = at + 2;
    return n;
}

size_t peer_command_bulk_size(const char *at)
{
    const char *body;
    size_t len = header_number(at, &body);
    return (size_t)(body - at) + len + 2;
}

size_t peer_command_size(const char *data, size_t len)
{
    const char *at;
    size_t args = header_number(data, &at);
    for (size_t i = 0; i < args && (size_t)(at - data) < len; i++)
        at += peer_command_bulk_size(at);
    return (size_t)(at - data) < len ? (size_t)(at - data) : len;
}

void peer_command_rpub(struct buffer *out, const char *channel,
                       size_t channel_len, const char *payload,
                       size_t payload_len)
{
    peer_command_begin(out, "RPUB", 2);
    bulk(out, channel, channel_len);
    bulk(out, payload, payload_len);
}

/* --- reading ---------------------------------------------------------- */

static bool arg_is(const struct request_arg *a, const char *word)
{
    return a->len == strlen(word) && strncasecmp(a->ptr, word, a->len) == 0;
}

/* Copies @p a into @p out as a C string if it fits and has no NUL. */
static bool arg_text(const struct request_arg *a, char *out, size_t cap)
{
    if (a->len == 0 || a->len >= cap || memchr(a->ptr, '\0', a->len) != NULL)
        return false;
    memcpy(out, a->ptr, a->len);
    out[a->len] = '\0';
    return true;
}

static bool parse_epoch(const struct request_arg *a, uint64_t *out)
{
    if (a->len == 0 || a->len > EPOCH_DIGITS_MAX)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < a->len; i++) {
        if (!isdigit((unsigned char)a->ptr[i]))
            return false;
        uint64_t digit = (uint64_t)(a->ptr[i] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    *out = v;
    return v > 0;
}

static bool parse_address(const struct request_arg *a,
                          struct inet_address *addr)
{
    char text[PEERS_ADDR_MAX];
    return arg_text(a, text, sizeof text) &&
           broker_config_parse_peer(addr, text) == 0;
}

static bool parse_node(const struct request_arg *a, char *node, size_t cap)
{
    if (!arg_text(a, node, cap))
        return false;
    for (const char *p = node; *p != '\0'; p++)
        if (!isgraph((unsigned char)*p))
            return false;
    return true;
}

/* PEER node epoch addr: the handshake's fields, or an error in @p r. */
static int handshake(struct session *s, const struct request *req,
                     struct reply *r)
{
    char node[CONFIG_NODE_NAME_MAX + 1];
    uint64_t epoch = 0;
    struct inet_address addr;
    if (!parse_node(&req->argv[1], node, sizeof node)) {
        reply_error(r, "ERR PEER: the node name is empty, too long or has "
                       "blanks");
    } else if (!parse_epoch(&req->argv[2], &epoch)) {
        reply_error(r, "ERR PEER: the epoch is not a positive number");
    } else if (!parse_address(&req->argv[3], &addr)) {
        reply_error(r, "ERR PEER: the address is not IPV4:PORT");
    } else {
        char why[160];
        if (peers_handshake(s->shard->broker->peers, s, node, epoch, &addr,
                            why, sizeof why) == 0)
            return 0;
        reply_error(r, why);
    }
    return -EPERM;
}

void peer_command_accept(struct session *s, const struct request *req,
                         struct reply *r)
{
    const char *want = s->shard->broker->config->requirepass;
    if (req->argc > 5) {
        reply_error(r, "ERR wrong number of arguments for 'peer' command");
        return;
    }
    /* A wrong password costs the connection, not just a reply as with
     * AUTH: a broker that is not ours gets one try per connection. */
    if (want != NULL &&
        (req->argc < 5 || req->argv[4].len != strlen(want) ||
         memcmp(req->argv[4].ptr, want, req->argv[4].len) != 0)) {
        reply_error(r, "WRONGPASS invalid username-password pair or user is "
                       "disabled.");
        s->close_after_reply = true;
        return;
    }
    if (handshake(s, req, r) != 0)
        s->close_after_reply = true;
}

/* --- a link's commands ------------------------------------------------ */

static void link_error(struct session *s, struct reply *r, const char *text)
{
    reply_error(r, text);
    s->close_after_reply = true;
}

/* The first thing a dialed connection gets: the answer to our PEER. */
static void dialed_answer(struct session *s, const struct request *req,
                          struct reply *r)
{
    if (arg_is(&req->argv[0], "peer") && req->argc == 4) {
        struct reply ignored = {.buf = r->buf, .err = 0};
        size_t before = buffer_readable(r->buf);
        if (handshake(s, req, &ignored) == 0)
            return;
        log_warn("peers: %s: bad answer to PEER: %.*s", tcp_conn_name(s->conn),
                 (int)(buffer_readable(r->buf) - before),
                 buffer_peek(r->buf) + before);
    } else {
        /* An error, read as an inline command: put its words together. */
        char text[256];
        size_t used = 0;
        for (size_t i = 0; i < req->argc && used + 1 < sizeof text; i++)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%.*s",
                                     i > 0 ? " " : "", (int)req->argv[i].len,
                                     req->argv[i].ptr);
        /* Refusing an introduction is the usual answer to one. */
        if (strstr(text, "the lower address dials") != NULL)
            log_info("peers: %s: %s", tcp_conn_name(s->conn), text);
        else
            log_warn("peers: %s: PEER answered with: %s",
                     tcp_conn_name(s->conn), text);
    }
    buffer_retrieve_all(r->buf); /* nothing is answered to an answer */
    peers_refused(s->shard->broker->peers, s);
    session_kill(s, NULL);
}

static void set_interest(struct session *s, const struct request *req,
                         struct reply *r, enum interest_kind kind, bool on)
{
    if (peers_set_interest(s->shard->broker->peers, s, kind, req->argv + 1,
                           req->argc - 1, on) != 0)
        link_error(s, r, "ERR out of memory for a peer's interest");
}

static void link_rsub(struct session *s, const struct request *req,
                      struct reply *r)
{
    set_interest(s, req, r, INTEREST_CHANNEL, true);
}

static void link_runsub(struct session *s, const struct request *req,
                        struct reply *r)
{
    set_interest(s, req, r, INTEREST_CHANNEL, false);
}

static void link_rpsub(struct session *s, const struct request *req,
                       struct reply *r)
{
    set_interest(s, req, r, INTEREST_PATTERN, true);
}

static void link_rpunsub(struct session *s, const struct request *req,
                         struct reply *r)
{
    set_interest(s, req, r, INTEREST_PATTERN, false);
}

static void link_rsync(struct session *s, const struct request *req,
                       struct reply *r)
{
    (void)req;
    (void)r;
    peers_sweep(s->shard->broker->peers, s);
}

static void link_rpub(struct session *s, const struct request *req,
                      struct reply *r)
{
    (void)r;
    const struct request_arg *ch = &req->argv[1];
    const struct request_arg *payload = &req->argv[2];
    atomic_fetch_add(&s->peer->count.msgs_in, 1);
    atomic_fetch_add(&s->peer->count.bytes_in,
                     peer_command_rpub_size(ch->len, payload->len));
    /* Local subscribers only: a message from a peer is never forwarded
     * (one hop), so a full mesh has no loops and no duplicates. */
    (void)shard_publish(s->shard, INTEREST_CHANNEL, ch->ptr, ch->len,
                        payload->ptr, payload->len, false);
}

static void link_peers(struct session *s, const struct request *req,
                       struct reply *r)
{
    for (size_t i = 1; i < req->argc; i++) {
        struct inet_address addr;
        if (!parse_address(&req->argv[i], &addr)) {
            link_error(s, r, "ERR PEERS: an address is not IPV4:PORT");
            return;
        }
        peers_learn(s->shard->broker->peers, &addr);
    }
}

/* Its arrival is the heartbeat (peers_input()); nothing to answer. */
static void link_ping(struct session *s, const struct request *req,
                      struct reply *r)
{
    (void)s;
    (void)req;
    (void)r;
}

typedef void link_fn(struct session *s, const struct request *req,
                     struct reply *r);

struct link_command {
    const char *name;
    int arity; /* as in the client table: -n is at least n */
    link_fn *fn;
};

static const struct link_command link_commands[] = {
    {"rsub", -2, link_rsub},   {"runsub", -2, link_runsub},
    {"rpsub", -2, link_rpsub}, {"rpunsub", -2, link_rpunsub},
    {"rsync", 1, link_rsync},  {"rpub", 3, link_rpub},
    {"peers", -2, link_peers}, {"ping", 1, link_ping},
};

bool peer_command_is_link_only(const struct request_arg *name)
{
    for (size_t i = 0; i < sizeof link_commands / sizeof link_commands[0]; i++)
        if (arg_is(name, link_commands[i].name))
            return link_commands[i].fn != link_ping; /* PING is everyone's */
    return false;
}

void peer_command_execute(struct session *s, const struct request *req,
                          struct reply *r)
{
    if (!s->link) {
        dialed_answer(s, req, r);
        return;
    }
    const struct request_arg *name = &req->argv[0];
    const struct link_command *cmd = NULL;
    for (size_t i = 0; i < sizeof link_commands / sizeof link_commands[0]; i++)
        if (arg_is(name, link_commands[i].name))
            cmd = &link_commands[i];
    if (cmd == NULL) {
        reply_errorf(r, "ERR '%.*s' is not a peer command",
                     (int)(name->len > 64 ? 64 : name->len), name->ptr);
        s->close_after_reply = true;
    } else if (cmd->arity >= 0 ? req->argc != (size_t)cmd->arity
                               : req->argc < (size_t)-cmd->arity) {
        reply_errorf(r, "ERR wrong number of arguments for '%s' command",
                     cmd->name);
        s->close_after_reply = true;
    } else {
        cmd->fn(s, req, r);
    }
}
