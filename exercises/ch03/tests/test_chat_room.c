/* Exercise 03.4: a chat room that drops the members who do not read.
 * Members connect in one phase; the test waits until the room counts
 * them, then they talk; the slow-reader test runs a writer and a reader
 * in two threads, in step, while a third member reads nothing. */
#include "exercise_net.h"
#include "chat_room.h"

#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What the slow-reader test lets a member leave unread. */
#define SMALL_MAX_QUEUED ((size_t)256 * 1024)
/* The flood of the slow-reader test: lines of FLOOD_LINE bytes, sent in
 * chunks of FLOOD_CHUNK_LINES, the writer at most FLOOD_WINDOW chunks
 * ahead of the reader, so that less than SMALL_MAX_QUEUED ever waits for
 * the reader, however slowly its thread runs. In all, FLOOD_BUFFERS times
 * the most the kernel lets a socket buffer hold on this machine
 * (tcp_buffer_max()): what the kernel holds for the member that does not
 * read fills up before anything queues in the server. At least
 * FLOOD_MIN_BYTES, four times the default 4 MiB of tcp_wmem, and at most
 * FLOOD_MAX_BYTES, which bounds the run on a machine with huge buffers. */
#define FLOOD_LINE 1024
#define FLOOD_CHUNK_LINES 64
#define FLOOD_CHUNK ((size_t)FLOOD_LINE * FLOOD_CHUNK_LINES)
#define FLOOD_BUFFERS 4
#define FLOOD_MIN_BYTES ((size_t)16 << 20)
#define FLOOD_MAX_BYTES ((size_t)256 << 20)
#define FLOOD_WINDOW 2
/* Pause between the pieces of a line sent in parts. */
#define PIECE_PAUSE_US 20000
/* Most members a test has at once. */
#define MEMBERS_MAX 4

struct fixture {
    struct event_loop *loop;
    struct chat_room *room;
    struct inet_address addr;
};

static void fixture_start(struct fixture *f, size_t max_queued)
{
    f->loop = exercise_loop();
    struct inet_address any_port;
    inet_address_loopback(&any_port, 0, false);
    f->room = chat_room_new(f->loop, &any_port, max_queued);
    ck_assert_msg(f->room != NULL, "chat_room_new: %s", strerror(errno));
    ck_assert_int_eq(chat_room_start(f->room), 0);
    ck_assert_int_eq(chat_room_listen_address(f->room, &f->addr), 0);
    ck_assert_uint_ne(inet_address_port(&f->addr), 0);
}

static void fixture_talk(struct fixture *f, void (*fn)(struct client_thread *),
                         void *arg)
{
    struct client_thread ct;
    client_thread_start(&ct, f->loop, &f->addr, fn, arg);
    client_thread_finish(&ct, CLIENT_FINISH_MS);
}

static void fixture_stop(struct fixture *f)
{
    chat_room_free(f->room);
    event_loop_free(f->loop);
    expect_no_fd_left();
}

struct members_wait {
    struct chat_room *room;
    size_t want;
};

static bool members_reached(void *arg)
{
    struct members_wait *w = arg;
    return chat_room_members(w->room) == w->want;
}

/* Runs the loop until the room counts want members. */
static void wait_members(struct fixture *f, size_t want)
{
    struct members_wait w = {f->room, want};
    char what[64];
    snprintf(what, sizeof what, "chat_room_members() to become %zu", want);
    run_loop_until_true(f->loop, members_reached, &w, what);
}

/* The members' client sockets, kept across phases. */
struct members {
    int fds[MEMBERS_MAX];
    int n;     /* fds[0..n) are in use */
    int first; /* connect_members() connects fds[first..n) */
    bool small_rcvbuf[MEMBERS_MAX];
};

static void members_init(struct members *m, int n)
{
    *m = (struct members){.n = n};
    for (int i = 0; i < MEMBERS_MAX; i++)
        m->fds[i] = -1;
}

static void connect_members(struct client_thread *ct)
{
    struct members *m = ct->arg;
    for (int i = m->first; i < m->n; i++) {
        m->fds[i] = m->small_rcvbuf[i] ? client_connect_small_rcvbuf(ct)
                                       : client_connect(ct);
        if (m->fds[i] < 0)
            return;
    }
}

static void close_members(struct client_thread *ct)
{
    struct members *m = ct->arg;
    for (int i = 0; i < m->n; i++)
        if (m->fds[i] >= 0) {
            close(m->fds[i]);
            m->fds[i] = -1;
        }
}

/* Connects members until fds[0..n) are used, and waits until the room
 * counts want members (the places of those who left stay empty). */
static void join(struct fixture *f, struct members *m, int n, size_t want)
{
    m->first = m->n;
    m->n = n;
    fixture_talk(f, connect_members, m);
    wait_members(f, want);
}

/* Closes every member and waits until the room is empty. */
static void leave_all(struct fixture *f, struct members *m)
{
    fixture_talk(f, close_members, m);
    wait_members(f, 0);
}

static bool say(struct client_thread *ct, int fd, const char *text)
{
    return client_write_all(ct, fd, text, strlen(text));
}

/* --- lines ---------------------------------------------------------------- */

static void hello_round(struct client_thread *ct)
{
    struct members *m = ct->arg;
    int a = m->fds[0], b = m->fds[1], c = m->fds[2];
    /* A's first reply must be B's line: had A received its own line,
     * that would come first. */
    if (say(ct, a, "hello from a\n") &&
        client_expect(ct, b, "hello from a\n", "a's line") &&
        client_expect(ct, c, "hello from a\n", "a's line") &&
        say(ct, b, "b here\n") &&
        client_expect(ct, a, "b here\n", "a's line, then b's"))
        client_expect(ct, c, "b here\n", "b's line");
}

START_TEST(line_reaches_every_other_member)
{
    struct fixture f;
    fixture_start(&f, 0);
    struct members m;
    members_init(&m, 0);
    join(&f, &m, 3, 3);
    fixture_talk(&f, hello_round, &m);
    leave_all(&f, &m);
    fixture_stop(&f);
}
END_TEST

static void order_round(struct client_thread *ct)
{
    struct members *m = ct->arg;
    int a = m->fds[0], b = m->fds[1], c = m->fds[2];
    char lines[1024];
    size_t len = 0;
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(lines + len, sizeof lines - len, "a %d\n", i);
    if (!say(ct, a, lines) ||
        !client_expect(ct, b, lines, "100 lines from a in one write") ||
        !client_expect(ct, c, lines, "100 lines from a in one write"))
        return;
    /* A line in two parts, with a whole line of C's in between: the room
     * must not send the first part before the line is complete. */
    if (say(ct, a, "hel")) {
        usleep(PIECE_PAUSE_US);
        if (say(ct, c, "c line\n")) {
            usleep(PIECE_PAUSE_US);
            if (say(ct, a, "lo\n") &&
                client_expect(ct, b, "c line\nhello\n",
                              "'hel' from a, 'c line\\n' from c, 'lo\\n' "
                              "from a") &&
                client_expect(ct, a, "c line\n", "c's line"))
                client_expect(ct, c, "hello\n", "a's line in two parts");
        }
    }
}

START_TEST(lines_arrive_whole_and_in_order)
{
    struct fixture f;
    fixture_start(&f, 0);
    struct members m;
    members_init(&m, 0);
    join(&f, &m, 3, 3);
    fixture_talk(&f, order_round, &m);
    leave_all(&f, &m);
    fixture_stop(&f);
}
END_TEST

static void close_second(struct client_thread *ct)
{
    struct members *m = ct->arg;
    close(m->fds[1]);
    m->fds[1] = -1;
}

static void after_b_left(struct client_thread *ct)
{
    struct members *m = ct->arg;
    if (say(ct, m->fds[0], "after b left\n"))
        client_expect(ct, m->fds[2], "after b left\n", "a line once b left");
}

static void for_d_too(struct client_thread *ct)
{
    struct members *m = ct->arg;
    if (say(ct, m->fds[0], "for c and d\n") &&
        client_expect(ct, m->fds[2], "for c and d\n", "a line once d came"))
        client_expect(ct, m->fds[3], "for c and d\n", "a line once d came");
}

START_TEST(member_who_left_is_no_longer_sent_to)
{
    struct fixture f;
    fixture_start(&f, 0);
    struct members m;
    members_init(&m, 0);
    join(&f, &m, 3, 3);
    fixture_talk(&f, close_second, &m);
    wait_members(&f, 2);
    fixture_talk(&f, after_b_left, &m);
    join(&f, &m, 4, 3); /* d comes; b's place stays empty */
    ck_assert_uint_eq(chat_room_members(f.room), 3);
    fixture_talk(&f, for_d_too, &m);
    leave_all(&f, &m);
    fixture_stop(&f);
}
END_TEST

/* "x" repeated n times, then end; the caller frees it. */
static char *make_line(size_t n, const char *end)
{
    size_t e = strlen(end);
    char *line = malloc(n + e + 1);
    if (line == NULL) /* client threads may not use ck_assert */
        abort();
    memset(line, 'x', n);
    memcpy(line + n, end, e + 1);
    return line;
}

static void longest_then_too_long(struct client_thread *ct)
{
    struct members *m = ct->arg;
    int a = m->fds[0], b = m->fds[1];
    char *longest = make_line(CHAT_ROOM_MAX_LINE - 1, "\n");
    char *endless = make_line(CHAT_ROOM_MAX_LINE, "");
    /* The longest line goes through; the maximum without a "\n" is too
     * long whatever comes next, and ends its sender's membership. */
    if (say(ct, a, longest) &&
        client_expect(ct, b, longest, "a line of the maximum length") &&
        say(ct, a, endless)) {
        long n = client_drain_to_end(ct, a, "a line longer than the maximum");
        if (n > 0)
            client_fail(ct, "the sender of a line too long received %ld "
                            "bytes",
                        n);
        close(a);
        m->fds[0] = -1;
    }
    free(longest);
    free(endless);
}

static void next_line(struct client_thread *ct)
{
    struct members *m = ct->arg;
    /* B's next bytes: C's line, and nothing of the line too long. */
    if (say(ct, m->fds[2], "next\n"))
        client_expect(ct, m->fds[1], "next\n",
                      "a line too long from a, then a line from c");
}

START_TEST(line_too_long_disconnects_its_sender)
{
    struct fixture f;
    fixture_start(&f, 0);
    struct members m;
    members_init(&m, 0);
    join(&f, &m, 2, 2);
    fixture_talk(&f, longest_then_too_long, &m);
    wait_members(&f, 1);
    join(&f, &m, 3, 2); /* c comes; a's place stays empty */
    fixture_talk(&f, next_line, &m);
    leave_all(&f, &m);
    fixture_stop(&f);
}
END_TEST

/* --- a member that does not read ------------------------------------------ */

struct flood {
    int writer, reader, slow;
    int chunks;    /* of FLOOD_CHUNK bytes */
    int finish_ms; /* how long the test waits for the flood's threads */
    sem_t room; /* chunks the writer may send: the reader posts one for
                   each chunk it got */
};

/* Chunk k: lines "<line number> aaaa...\n". */
static void make_chunk(char *chunk, int k)
{
    for (int i = 0; i < FLOOD_CHUNK_LINES; i++) {
        char *line = chunk + (size_t)i * FLOOD_LINE;
        memset(line, 'a' + (k + i) % 26, FLOOD_LINE - 1);
        line[FLOOD_LINE - 1] = '\n';
        char number[16];
        int w = snprintf(number, sizeof number, "%08d ",
                         k * FLOOD_CHUNK_LINES + i);
        memcpy(line, number, (size_t)w);
    }
}

/* Waits until the writer may send chunk k: chunk k - FLOOD_WINDOW has
 * been read. */
static bool wait_for_room(struct client_thread *ct, struct flood *fl, int k)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += REPLY_WAIT_MS / 1000;
    while (sem_timedwait(&fl->room, &deadline) != 0) {
        if (errno == EINTR)
            continue;
        client_fail(ct, "the reading member did not get chunk %d of %d "
                        "(%zu KiB each) within %d ms",
                    k - FLOOD_WINDOW, fl->chunks, FLOOD_CHUNK / 1024,
                    REPLY_WAIT_MS);
        return false;
    }
    return true;
}

static void flood_writer(struct client_thread *ct)
{
    struct flood *fl = ct->arg;
    char *chunk = malloc(FLOOD_CHUNK);
    if (chunk == NULL)
        abort();
    for (int k = 0; k < fl->chunks; k++) {
        make_chunk(chunk, k);
        if (!wait_for_room(ct, fl, k) ||
            !client_write_all(ct, fl->writer, chunk, FLOOD_CHUNK))
            break;
    }
    free(chunk);
}

static void flood_reader(struct client_thread *ct)
{
    struct flood *fl = ct->arg;
    char *want = malloc(FLOOD_CHUNK), *got = malloc(FLOOD_CHUNK);
    if (want == NULL || got == NULL)
        abort();
    for (int k = 0; k < fl->chunks; k++) {
        make_chunk(want, k);
        if (!client_read_within(ct, fl->reader, got, FLOOD_CHUNK,
                                "a chunk of lines from the writer"))
            break;
        if (memcmp(want, got, FLOOD_CHUNK) != 0) {
            client_fail(ct, "chunk %d of the flood differs from what the "
                            "writer sent",
                        k);
            break;
        }
        sem_post(&fl->room);
    }
    free(want);
    free(got);
}

static void slow_member_reads_at_last(struct client_thread *ct)
{
    struct flood *fl = ct->arg;
    size_t flood_bytes = FLOOD_CHUNK * (size_t)fl->chunks;
    char after[96];
    snprintf(after, sizeof after,
             "%zu MiB of lines it did not read (was it dropped?)",
             flood_bytes >> 20);
    long n = client_drain_to_end(ct, fl->slow, after);
    if (n >= (long)flood_bytes)
        client_fail(ct,
                    "the member that did not read got all %ld bytes: "
                    "it was never dropped",
                    n);
}

/* The size of the flood on this machine (see FLOOD_BUFFERS), and the
 * hang guard of its threads, which grows with it: CLIENT_FINISH_MS for
 * each FLOOD_MIN_BYTES. */
static void flood_size(struct flood *fl)
{
    size_t bytes = FLOOD_BUFFERS * tcp_buffer_max();
    if (bytes < FLOOD_MIN_BYTES)
        bytes = FLOOD_MIN_BYTES;
    if (bytes > FLOOD_MAX_BYTES)
        bytes = FLOOD_MAX_BYTES;
    fl->chunks = (int)((bytes + FLOOD_CHUNK - 1) / FLOOD_CHUNK);
    fl->finish_ms = CLIENT_FINISH_MS *
                    (int)((bytes + FLOOD_MIN_BYTES - 1) / FLOOD_MIN_BYTES);
}

START_TEST(slow_member_is_dropped_and_the_others_get_every_line)
{
    struct fixture f;
    fixture_start(&f, SMALL_MAX_QUEUED);
    struct members m;
    members_init(&m, 0);
    m.small_rcvbuf[2] = true; /* the one that will not read */
    join(&f, &m, 3, 3);
    struct flood fl = {.writer = m.fds[0], .reader = m.fds[1],
                       .slow = m.fds[2]};
    flood_size(&fl);
    ck_assert_int_eq(sem_init(&fl.room, 0, FLOOD_WINDOW), 0);
    struct client_thread writer, reader;
    client_thread_start(&writer, f.loop, &f.addr, flood_writer, &fl);
    client_thread_start(&reader, f.loop, &f.addr, flood_reader, &fl);
    client_thread_finish(&reader, fl.finish_ms);
    client_thread_finish(&writer, fl.finish_ms);
    sem_destroy(&fl.room);
    fixture_talk(&f, slow_member_reads_at_last, &fl);
    uint64_t dropped = chat_room_dropped(f.room);
    ck_assert_msg(dropped == 1,
                  "one member read nothing of the flood: expected 1 "
                  "dropped, the room counts %llu",
                  (unsigned long long)dropped);
    leave_all(&f, &m);
    fixture_stop(&f);
}
END_TEST

/* --- the room's end ----------------------------------------------------- */

static void expect_ends(struct client_thread *ct)
{
    struct members *m = ct->arg;
    for (int i = 0; i < m->n && ct->error[0] == '\0'; i++) {
        long n = client_drain_to_end(ct, m->fds[i], "chat_room_free()");
        if (n > 0)
            client_fail(ct, "%ld bytes after chat_room_free()", n);
    }
    close_members(ct);
}

START_TEST(room_freed_with_members_closes_them)
{
    struct fixture f;
    fixture_start(&f, 0);
    struct members m;
    members_init(&m, 0);
    join(&f, &m, 3, 3);
    chat_room_free(f.room);
    f.room = NULL;
    fixture_talk(&f, expect_ends, &m);
    event_loop_free(f.loop);
    expect_no_fd_left();
}
END_TEST

START_TEST(max_queued_below_one_line_is_refused)
{
    struct event_loop *loop = exercise_loop();
    struct inet_address any_port;
    inet_address_loopback(&any_port, 0, false);
    errno = 0;
    struct chat_room *room =
        chat_room_new(loop, &any_port, CHAT_ROOM_MAX_LINE - 1);
    ck_assert_msg(room == NULL && errno == EINVAL,
                  "chat_room_new(max_queued %d): expected NULL and EINVAL, "
                  "got %p and errno %d",
                  CHAT_ROOM_MAX_LINE - 1, (void *)room, errno);
    event_loop_free(loop);
    expect_no_fd_left();
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 03.4 chat room");
    TCase *tc = exercise_tcase("chat_room");
    tcase_add_test(tc, line_reaches_every_other_member);
    tcase_add_test(tc, lines_arrive_whole_and_in_order);
    tcase_add_test(tc, member_who_left_is_no_longer_sent_to);
    tcase_add_test(tc, line_too_long_disconnects_its_sender);
    tcase_add_test(tc, slow_member_is_dropped_and_the_others_get_every_line);
    tcase_add_test(tc, room_freed_with_members_closes_them);
    tcase_add_test(tc, max_queued_below_one_line_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
