/* The length-header codec: frames cut at every byte, many frames in one
 * read, empty frames, bad lengths refused with nothing consumed, the
 * largest frame accepted, and frames sent over a real connection, from
 * the loop thread and from several threads at once. */
#include "net_test.h"

#include "net/buffer.h"
#include "net/codec.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A short stream of frames with every shape that matters: empty ones,
 * one byte, around the header size, a few hundred bytes. */
static const size_t stream_sizes[] = {0, 1, 3, 4, 5, 0, 300, 2, 0, 700};
#define STREAM_FRAMES (sizeof stream_sizes / sizeof stream_sizes[0])
#define STREAM_MAX_BYTES 2048

#define COALESCED_FRAMES 1000
#define COALESCED_MAX_PAYLOAD 97
#define SMALL_MAX 100

/* The bytes of payload @p i of a test stream: a pattern per frame, so
 * that a frame delivered in the wrong place shows. */
static void payload_of(size_t i, size_t len, char *out)
{
    fill_pattern(out, len, (unsigned)i + 1);
}

/* The stream of frames of @p sizes, encoded into @p stream. */
static size_t build_stream(const size_t *sizes, size_t count, char *stream,
                           size_t cap)
{
    struct buffer b;
    buffer_init(&b);
    for (size_t i = 0; i < count; i++) {
        char payload[STREAM_MAX_BYTES];
        ck_assert_uint_le(sizes[i], sizeof payload);
        payload_of(i, sizes[i], payload);
        ck_assert_int_eq(codec_encode(&b, payload, sizes[i]), 0);
    }
    size_t n = buffer_readable(&b);
    ck_assert_uint_le(n, cap);
    memcpy(stream, buffer_peek(&b), n);
    buffer_destroy(&b);
    return n;
}

/* Takes every complete frame from @p in, checking each against the
 * frame it should be (frame *next of @p sizes); never an error. */
static void drain(struct buffer *in, const size_t *sizes, size_t count,
                  size_t *next)
{
    const char *p;
    size_t len;
    int r;
    while ((r = codec_peek(in, 0, &p, &len)) == 1) {
        ck_assert_uint_lt(*next, count);
        ck_assert_uint_eq(len, sizes[*next]);
        char want[STREAM_MAX_BYTES];
        payload_of(*next, len, want);
        ck_assert(len == 0 || memcmp(p, want, len) == 0);
        codec_consume(in, len);
        (*next)++;
    }
    ck_assert_int_eq(r, 0);
}

/* How many frames of @p sizes end within the first @p bytes. */
static size_t frames_within(const size_t *sizes, size_t count, size_t bytes)
{
    size_t end = 0, n = 0;
    for (size_t i = 0; i < count; i++) {
        end += CODEC_HEADER_LEN + sizes[i];
        if (end <= bytes)
            n++;
    }
    return n;
}

START_TEST(frames_arrive_one_byte_at_a_time)
{
    char stream[STREAM_FRAMES * (CODEC_HEADER_LEN + STREAM_MAX_BYTES)];
    size_t total =
        build_stream(stream_sizes, STREAM_FRAMES, stream, sizeof stream);
    struct buffer in;
    buffer_init(&in);
    size_t next = 0;
    for (size_t i = 0; i < total; i++) {
        ck_assert_int_eq(buffer_append(&in, stream + i, 1), 0);
        drain(&in, stream_sizes, STREAM_FRAMES, &next);
        /* A frame comes out exactly when its last byte is in. */
        ck_assert_uint_eq(next,
                          frames_within(stream_sizes, STREAM_FRAMES, i + 1));
    }
    ck_assert_uint_eq(next, STREAM_FRAMES);
    ck_assert_uint_eq(buffer_readable(&in), 0);
    buffer_destroy(&in);
}
END_TEST

START_TEST(frames_split_at_every_point)
{
    char stream[STREAM_FRAMES * (CODEC_HEADER_LEN + STREAM_MAX_BYTES)];
    size_t total =
        build_stream(stream_sizes, STREAM_FRAMES, stream, sizeof stream);
    for (size_t split = 0; split <= total; split++) {
        struct buffer in;
        buffer_init(&in);
        size_t next = 0;
        ck_assert_int_eq(buffer_append(&in, stream, split), 0);
        drain(&in, stream_sizes, STREAM_FRAMES, &next);
        ck_assert_uint_eq(next,
                          frames_within(stream_sizes, STREAM_FRAMES, split));
        ck_assert_int_eq(buffer_append(&in, stream + split, total - split), 0);
        drain(&in, stream_sizes, STREAM_FRAMES, &next);
        ck_assert_uint_eq(next, STREAM_FRAMES);
        ck_assert_uint_eq(buffer_readable(&in), 0);
        buffer_destroy(&in);
    }
}
END_TEST

START_TEST(many_frames_in_one_buffer)
{
    static size_t sizes[COALESCED_FRAMES];
    for (size_t i = 0; i < COALESCED_FRAMES; i++)
        sizes[i] = (i * 31) % (COALESCED_MAX_PAYLOAD + 1);
    struct buffer in;
    buffer_init(&in);
    for (size_t i = 0; i < COALESCED_FRAMES; i++) {
        char payload[COALESCED_MAX_PAYLOAD];
        payload_of(i, sizes[i], payload);
        ck_assert_int_eq(codec_encode(&in, payload, sizes[i]), 0);
    }
    size_t next = 0;
    drain(&in, sizes, COALESCED_FRAMES, &next);
    ck_assert_uint_eq(next, COALESCED_FRAMES);
    ck_assert_uint_eq(buffer_readable(&in), 0);
    buffer_destroy(&in);
}
END_TEST

START_TEST(empty_frames_are_frames)
{
    struct buffer b;
    buffer_init(&b);
    const char *p = NULL;
    size_t len = 99;
    ck_assert_int_eq(codec_peek(&b, 0, &p, &len), 0); /* nothing yet */
    ck_assert_int_eq(codec_encode(&b, NULL, 0), 0);
    ck_assert_int_eq(codec_encode(&b, NULL, 0), 0);
    ck_assert_uint_eq(buffer_readable(&b), 2 * CODEC_HEADER_LEN);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(codec_peek(&b, 0, &p, &len), 1);
        ck_assert_uint_eq(len, 0);
        ck_assert_ptr_eq(p, buffer_peek(&b) + CODEC_HEADER_LEN);
        codec_consume(&b, len);
    }
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_int_eq(codec_peek(&b, 0, &p, &len), 0);
    buffer_destroy(&b);
}
END_TEST

/* An error must leave the buffer exactly as it was, and say the same
 * thing every time it is asked. */
static void expect_refused(struct buffer *b, size_t max_frame, int err)
{
    size_t before = buffer_readable(b);
    const char *start = buffer_peek(b);
    const char *p = NULL;
    size_t len = 12345;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(codec_peek(b, max_frame, &p, &len), err);
        ck_assert_uint_eq(buffer_readable(b), before);
        ck_assert_ptr_eq(buffer_peek(b), start);
        ck_assert_ptr_null(p);
        ck_assert_uint_eq(len, 12345);
    }
}

START_TEST(negative_lengths_are_refused)
{
    static const uint32_t fields[] = {0xFFFFFFFFu, 0x80000000u, 0x80000001u,
                                      0xFFFFFF00u};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        struct buffer b;
        buffer_init(&b);
        ck_assert_int_eq(buffer_append_u32(&b, fields[i]), 0);
        expect_refused(&b, 0, -EBADMSG);
        /* Whatever follows changes nothing. */
        ck_assert_int_eq(buffer_append(&b, "payload", 7), 0);
        expect_refused(&b, CODEC_MAX_FRAME_LIMIT, -EBADMSG);
        buffer_destroy(&b);
    }
    ck_assert_str_eq(codec_strerror(-EBADMSG), "negative frame length");
}
END_TEST

START_TEST(lengths_above_the_maximum_are_refused)
{
    struct buffer b;
    buffer_init(&b);
    /* Refused from the header alone: the payload need not be there. */
    ck_assert_int_eq(buffer_append_u32(&b, SMALL_MAX + 1), 0);
    expect_refused(&b, SMALL_MAX, -EMSGSIZE);
    buffer_retrieve_all(&b);
    ck_assert_int_eq(
        buffer_append_u32(&b, (uint32_t)CODEC_DEFAULT_MAX_FRAME + 1), 0);
    expect_refused(&b, 0, -EMSGSIZE); /* 0: the default maximum */
    buffer_retrieve_all(&b);
    ck_assert_int_eq(buffer_append_u32(&b, INT32_MAX), 0);
    expect_refused(&b, 0, -EMSGSIZE);
    /* Any maximum above the field's range means that range: INT32_MAX is
     * then a legal length, still waiting for its payload. */
    const char *p;
    size_t len;
    ck_assert_int_eq(codec_peek(&b, SIZE_MAX, &p, &len), 0);
    ck_assert_int_eq(codec_peek(&b, CODEC_MAX_FRAME_LIMIT, &p, &len), 0);
    ck_assert_str_eq(codec_strerror(-EMSGSIZE),
                     "frame length above the maximum");
    ck_assert_str_eq(codec_strerror(-EPIPE), "the peer is gone");
    ck_assert_str_eq(codec_strerror(-EINVAL), "unknown codec error");
    buffer_destroy(&b);
}
END_TEST

START_TEST(the_maximum_itself_is_accepted)
{
    struct buffer b;
    buffer_init(&b);
    char small[SMALL_MAX];
    fill_pattern(small, sizeof small, 3);
    ck_assert_int_eq(codec_encode(&b, small, sizeof small), 0);
    const char *p;
    size_t len;
    ck_assert_int_eq(codec_peek(&b, SMALL_MAX, &p, &len), 1);
    ck_assert_uint_eq(len, SMALL_MAX);
    ck_assert_mem_eq(p, small, SMALL_MAX);
    codec_consume(&b, len);

    char *big = calloc(1, CODEC_DEFAULT_MAX_FRAME);
    ck_assert_ptr_nonnull(big);
    big[CODEC_DEFAULT_MAX_FRAME - 1] = 'z';
    ck_assert_int_eq(codec_encode(&b, big, CODEC_DEFAULT_MAX_FRAME), 0);
    /* One byte short: still waiting, not refused. */
    struct buffer partial;
    buffer_init(&partial);
    ck_assert_int_eq(
        buffer_append(&partial, buffer_peek(&b), buffer_readable(&b) - 1), 0);
    ck_assert_int_eq(codec_peek(&partial, 0, &p, &len), 0);
    buffer_destroy(&partial);
    ck_assert_int_eq(codec_peek(&b, 0, &p, &len), 1);
    ck_assert_uint_eq(len, CODEC_DEFAULT_MAX_FRAME);
    ck_assert_int_eq(p[len - 1], 'z');
    codec_consume(&b, len);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    free(big);
    buffer_destroy(&b);
}
END_TEST

START_TEST(encode_then_peek_round_trip)
{
    /* 0x00010203 bytes: the header must read 00 01 02 03 (big-endian). */
    static const size_t sizes[] = {0, 1, 255, 256, 4096, 0x00010203};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *payload = malloc(sizes[i] + 1);
        ck_assert_ptr_nonnull(payload);
        fill_pattern(payload, sizes[i], (unsigned)i);
        struct buffer b;
        buffer_init(&b);
        ck_assert_int_eq(buffer_append(&b, "x", 1), 0); /* something before */
        ck_assert_int_eq(codec_encode(&b, payload, sizes[i]), 0);
        ck_assert_uint_eq(buffer_readable(&b), 1 + CODEC_HEADER_LEN + sizes[i]);
        buffer_retrieve(&b, 1);
        const unsigned char want[CODEC_HEADER_LEN] = {
            (unsigned char)(sizes[i] >> 24), (unsigned char)(sizes[i] >> 16),
            (unsigned char)(sizes[i] >> 8), (unsigned char)sizes[i]};
        ck_assert_mem_eq(buffer_peek(&b), want, CODEC_HEADER_LEN);
        const char *p;
        size_t len;
        ck_assert_int_eq(codec_peek(&b, 0, &p, &len), 1);
        ck_assert_uint_eq(len, sizes[i]);
        ck_assert(len == 0 || memcmp(p, payload, len) == 0);
        codec_consume(&b, len);
        ck_assert_uint_eq(buffer_readable(&b), 0);
        buffer_destroy(&b);
        free(payload);
    }
}
END_TEST

START_TEST(encode_refuses_what_the_field_cannot_say)
{
    /* A small payload and a huge length: the length is refused before any
     * byte is read or any memory is allocated (the buffer stays empty,
     * with no storage). */
    static const char tiny[1] = {'t'};
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(codec_encode(&b, tiny, CODEC_MAX_FRAME_LIMIT + 1),
                     -EMSGSIZE);
    ck_assert_int_eq(codec_encode(&b, tiny, SIZE_MAX), -EMSGSIZE);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_uint_eq(buffer_writable(&b) + buffer_prependable(&b), 0);
    /* With bytes already there, they stay as they were. */
    ck_assert_int_eq(codec_encode(&b, tiny, 1), 0);
    ck_assert_int_eq(codec_encode(&b, tiny, CODEC_MAX_FRAME_LIMIT + 1),
                     -EMSGSIZE);
    ck_assert_uint_eq(buffer_readable(&b), CODEC_HEADER_LEN + 1);
    buffer_destroy(&b);
}
END_TEST

/* --- over a real connection ------------------------------------------------
 */

/* Sizes on both sides of codec_send()'s stack frame, and large ones that
 * the connection has to queue. */
static const size_t wire_sizes[] = {0,    1, 1000,   1024,    1025,
                                    4096, 0, 100000, 1 << 20, 7};
#define WIRE_FRAMES (sizeof wire_sizes / sizeof wire_sizes[0])
#define WIRE_CHUNK 777 /* the client writes the stream in odd pieces */
#define WIRE_TIMEOUT_MS 20000

/* What the server side saw. */
struct frame_log {
    int ups, downs, frames, errors, send_errors;
    int oversize_send; /* codec_send() of an unsayable length */
    struct tcp_conn *kept;
    bool keep; /* keep a reference to the connection */
};

static void log_on_connection(struct tcp_conn *conn, void *ctx)
{
    struct frame_log *log = ctx;
    if (tcp_conn_connected(conn)) {
        log->ups++;
        (void)tcp_conn_set_tcp_nodelay(conn, true);
        static const char tiny[1] = {'t'};
        log->oversize_send = codec_send(conn, tiny, CODEC_MAX_FRAME_LIMIT + 1);
        if (log->keep) {
            tcp_conn_ref(conn);
            log->kept = conn;
        }
    } else {
        log->downs++;
    }
}

/* Echoes each whole frame as a frame of its own. */
static void echo_frames(struct tcp_conn *conn, struct buffer *input, int64_t t,
                        void *ctx)
{
    struct frame_log *log = ctx;
    (void)t;
    const char *p;
    size_t len;
    int r;
    while ((r = codec_peek(input, 0, &p, &len)) == 1) {
        if (codec_send(conn, p, len) != 0)
            log->send_errors++;
        codec_consume(input, len);
        log->frames++;
    }
    if (r < 0) {
        log->errors++;
        tcp_conn_force_close(conn);
    }
}

/* Reads one frame with blocking reads; its payload goes to a new block
 * (*out, freed by the caller). */
static bool client_read_frame(struct client_thread *ct, int fd, char **out,
                              size_t *len)
{
    unsigned char header[CODEC_HEADER_LEN];
    if (!client_read_exact(ct, fd, header, sizeof header))
        return false;
    uint32_t field = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 |
                     (uint32_t)header[2] << 8 | header[3];
    if (field > CODEC_DEFAULT_MAX_FRAME) {
        client_fail(ct, "frame of %u bytes", (unsigned)field);
        return false;
    }
    *len = field;
    *out = malloc(*len + 1);
    if (*out == NULL) {
        client_fail(ct, "no memory");
        return false;
    }
    if (!client_read_exact(ct, fd, *out, *len)) {
        free(*out);
        return false;
    }
    return true;
}

static void frame_echo_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    struct buffer stream;
    buffer_init(&stream);
    char *payload = malloc(1 << 20);
    if (payload == NULL) {
        client_fail(ct, "no memory");
        close(fd);
        return;
    }
    for (size_t i = 0; i < WIRE_FRAMES; i++) {
        payload_of(i, wire_sizes[i], payload);
        if (codec_encode(&stream, payload, wire_sizes[i]) != 0)
            client_fail(ct, "encode failed");
    }
    const char *p = buffer_peek(&stream);
    size_t left = buffer_readable(&stream);
    while (left > 0) {
        size_t n = left < WIRE_CHUNK ? left : WIRE_CHUNK;
        if (!client_write_all(ct, fd, p, n))
            break;
        p += n;
        left -= n;
    }
    for (size_t i = 0; i < WIRE_FRAMES && ct->error[0] == '\0'; i++) {
        char *got;
        size_t len;
        if (!client_read_frame(ct, fd, &got, &len))
            break;
        payload_of(i, wire_sizes[i], payload);
        if (len != wire_sizes[i] || memcmp(got, payload, len) != 0)
            client_fail(ct, "frame %zu: %zu bytes, expected %zu", i, len,
                        wire_sizes[i]);
        free(got);
    }
    free(payload);
    buffer_destroy(&stream);
    close(fd);
}

START_TEST(frames_cross_a_connection_intact)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct frame_log log = {0};
    struct tcp_callbacks cb = {.on_connection = log_on_connection,
                               .on_message = echo_frames,
                               .ctx = &log};
    struct inet_address addr;
    struct tcp_server *server = start_test_server(loop, &cb, false, &addr);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, frame_echo_client, NULL);
    client_thread_finish(&ct, WIRE_TIMEOUT_MS);
    run_loop_until(loop, &log.downs, 1, WIRE_TIMEOUT_MS);
    ck_assert_int_eq(log.ups, 1);
    ck_assert_int_eq(log.frames, (int)WIRE_FRAMES);
    ck_assert_int_eq(log.errors, 0);
    ck_assert_int_eq(log.send_errors, 0);
    ck_assert_int_eq(log.oversize_send, -EMSGSIZE);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

/* Several threads send frames on one connection at once. Each frame goes
 * out in one tcp_conn_send(), so frames of different threads may come in
 * any order between threads but never mixed; each thread's own frames
 * keep their order. */
#define SENDER_THREADS 3
#define FRAMES_PER_SENDER 300
#define SENDER_MAX_PAYLOAD 2000 /* both sides of the stack frame */

struct sender {
    pthread_t thread;
    struct tcp_conn *conn;
    int id;
    atomic_int *failures;
};

/* Frame @p seq of sender @p id: its id, its number, then a pattern. */
static size_t sender_frame(int id, int seq, char *out)
{
    size_t len =
        8 + ((size_t)seq * 37 + (size_t)id * 11) % (SENDER_MAX_PAYLOAD - 8);
    uint32_t words[2] = {(uint32_t)id, (uint32_t)seq};
    memcpy(out, words, sizeof words);
    fill_pattern(out + 8, len - 8, (unsigned)(id * 100000 + seq));
    return len;
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    char frame[SENDER_MAX_PAYLOAD];
    for (int seq = 0; seq < FRAMES_PER_SENDER; seq++) {
        size_t len = sender_frame(s->id, seq, frame);
        if (codec_send(s->conn, frame, len) != 0)
            atomic_fetch_add(s->failures, 1);
    }
    return NULL;
}

static void interleaved_reader_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    int next[SENDER_THREADS] = {0};
    char want[SENDER_MAX_PAYLOAD];
    for (int n = 0; n < SENDER_THREADS * FRAMES_PER_SENDER; n++) {
        char *got;
        size_t len;
        if (!client_read_frame(ct, fd, &got, &len))
            break;
        uint32_t words[2] = {UINT32_MAX, 0};
        if (len >= sizeof words)
            memcpy(words, got, sizeof words);
        if (words[0] >= SENDER_THREADS || (int)words[1] != next[words[0]] ||
            sender_frame((int)words[0], (int)words[1], want) != len ||
            memcmp(want, got, len) != 0) {
            client_fail(ct, "frame %d (%zu bytes) is not the one expected", n,
                        len);
            free(got);
            break;
        }
        next[words[0]]++;
        free(got);
    }
    close(fd);
}

START_TEST(frames_from_several_threads_stay_whole)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct frame_log log = {.keep = true};
    struct tcp_callbacks cb = {.on_connection = log_on_connection,
                               .on_message = echo_frames,
                               .ctx = &log};
    struct inet_address addr;
    struct tcp_server *server = start_test_server(loop, &cb, false, &addr);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, interleaved_reader_client, NULL);
    run_loop_until(loop, &log.ups, 1, WIRE_TIMEOUT_MS);
    atomic_int failures = 0;
    struct sender senders[SENDER_THREADS];
    for (int i = 0; i < SENDER_THREADS; i++) {
        senders[i] =
            (struct sender){.conn = log.kept, .id = i, .failures = &failures};
        ck_assert_int_eq(
            pthread_create(&senders[i].thread, NULL, sender_main, &senders[i]),
            0);
    }
    client_thread_finish(&ct, WIRE_TIMEOUT_MS);
    for (int i = 0; i < SENDER_THREADS; i++)
        ck_assert_int_eq(pthread_join(senders[i].thread, NULL), 0);
    ck_assert_int_eq(atomic_load(&failures), 0);
    run_loop_until(loop, &log.downs, 1, WIRE_TIMEOUT_MS);
    tcp_conn_unref(log.kept);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch05 codec");
    TCase *tc = tcase_create("codec");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, frames_arrive_one_byte_at_a_time);
    tcase_add_test(tc, frames_split_at_every_point);
    tcase_add_test(tc, many_frames_in_one_buffer);
    tcase_add_test(tc, empty_frames_are_frames);
    tcase_add_test(tc, negative_lengths_are_refused);
    tcase_add_test(tc, lengths_above_the_maximum_are_refused);
    tcase_add_test(tc, the_maximum_itself_is_accepted);
    tcase_add_test(tc, encode_then_peek_round_trip);
    tcase_add_test(tc, encode_refuses_what_the_field_cannot_say);
    tcase_add_test(tc, frames_cross_a_connection_intact);
    tcase_add_test(tc, frames_from_several_threads_stay_whole);
    suite_add_tcase(s, tc);
    return s;
}
