/* Buffer: layout, growth, prepend, search, integers, shrink and reading
 * from an fd through the stack buffer. */
#include "test_support.h"

#include "net/buffer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(new_buffer_is_empty_and_lazy)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_uint_eq(buffer_writable(&b), 0);
    ck_assert_ptr_null(b.data); /* nothing allocated until used */
    ck_assert_str_eq(buffer_peek(&b), "");
    buffer_retrieve(&b, 10); /* harmless */
    buffer_destroy(&b);
}
END_TEST

START_TEST(append_and_retrieve)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "hello world", 11), 0);
    ck_assert_uint_eq(buffer_readable(&b), 11);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    ck_assert_uint_eq(buffer_writable(&b), BUFFER_INITIAL_SIZE - 11);
    ck_assert_int_eq(memcmp(buffer_peek(&b), "hello world", 11), 0);
    buffer_retrieve(&b, 6);
    ck_assert_uint_eq(buffer_readable(&b), 5);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND + 6);
    ck_assert_int_eq(memcmp(buffer_peek(&b), "world", 5), 0);
    buffer_retrieve(&b, 5); /* all consumed: indices go back to the front */
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    ck_assert_uint_eq(buffer_writable(&b), BUFFER_INITIAL_SIZE);
    buffer_destroy(&b);
}
END_TEST

START_TEST(growth_moves_data_forward_before_reallocating)
{
    struct buffer b;
    buffer_init(&b);
    char data[BUFFER_INITIAL_SIZE];
    memset(data, 'a', sizeof data);
    ck_assert_int_eq(buffer_append(&b, data, 800), 0);
    buffer_retrieve(&b, 700); /* 700 bytes free in front, 224 behind */
    char *storage = b.data;
    size_t capacity = b.capacity;
    ck_assert_int_eq(buffer_append(&b, data, 600), 0); /* fits if moved */
    ck_assert_ptr_eq(b.data, storage);
    ck_assert_uint_eq(b.capacity, capacity);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    ck_assert_uint_eq(buffer_readable(&b), 700);
    /* Now it must grow. */
    ck_assert_int_eq(buffer_append(&b, data, sizeof data), 0);
    ck_assert_uint_eq(buffer_readable(&b), 700 + sizeof data);
    ck_assert_uint_gt(b.capacity, capacity);
    for (size_t i = 0; i < buffer_readable(&b); i++)
        ck_assert_int_eq(buffer_peek(&b)[i], 'a');
    buffer_destroy(&b);
}
END_TEST

/* Fills b with len bytes whose values count up from first. */
static void append_pattern(struct buffer *b, size_t len, unsigned first)
{
    for (size_t i = 0; i < len; i++) {
        char c = (char)(first + i);
        ck_assert_int_eq(buffer_append(b, &c, 1), 0);
    }
}

static void assert_pattern(const char *p, size_t len, unsigned first)
{
    for (size_t i = 0; i < len; i++)
        ck_assert_int_eq((unsigned char)p[i], (unsigned char)(first + i));
}

START_TEST(append_own_bytes_when_growing)
{
    /* The source is the buffer's own storage, and the append must grow it:
     * the old block is freed by the reallocation before the copy. */
    struct buffer b;
    buffer_init(&b);
    append_pattern(&b, BUFFER_INITIAL_SIZE, 7);
    ck_assert_uint_eq(buffer_writable(&b), 0);
    ck_assert_int_eq(buffer_append(&b, buffer_peek(&b), BUFFER_INITIAL_SIZE),
                     0);
    ck_assert_uint_eq(buffer_readable(&b), 2 * BUFFER_INITIAL_SIZE);
    assert_pattern(buffer_peek(&b), BUFFER_INITIAL_SIZE, 7);
    assert_pattern(buffer_peek(&b) + BUFFER_INITIAL_SIZE, BUFFER_INITIAL_SIZE,
                   7);
    buffer_destroy(&b);
}
END_TEST

START_TEST(append_own_bytes_when_compacting)
{
    /* Room at the end is short but room at the front is plenty: making
     * room slides the readable bytes to the front, over the place where
     * the source pointed. */
    enum { KEPT = BUFFER_INITIAL_SIZE * 3 / 5, COPIED = KEPT / 2 };
    struct buffer b;
    buffer_init(&b);
    append_pattern(&b, BUFFER_INITIAL_SIZE, 0);
    buffer_retrieve(&b, BUFFER_INITIAL_SIZE - KEPT);
    ck_assert_uint_ge(buffer_prependable(&b), COPIED + BUFFER_PREPEND);
    const char *before = buffer_peek(&b);
    ck_assert_int_eq(buffer_append(&b, buffer_peek(&b), COPIED), 0);
    ck_assert_ptr_ne(buffer_peek(&b), before); /* it did slide */
    ck_assert_uint_eq(buffer_readable(&b), KEPT + COPIED);
    unsigned first = BUFFER_INITIAL_SIZE - KEPT;
    assert_pattern(buffer_peek(&b), KEPT, first);
    assert_pattern(buffer_peek(&b) + KEPT, COPIED, first);
    buffer_destroy(&b);
}
END_TEST

START_TEST(prepend_uses_the_reserved_front)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_prepend_u32(&b, 5), 0); /* on an empty buffer */
    ck_assert_uint_eq(buffer_read_u32(&b), 5);
    ck_assert_int_eq(buffer_append(&b, "body", 4), 0);
    ck_assert_int_eq(buffer_prepend_u32(&b, 4), 0);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND - 4);
    ck_assert_int_eq(buffer_prepend_u16(&b, 0xABCD), 0);
    ck_assert_int_eq(buffer_prepend_u8(&b, 7), 0);
    ck_assert_int_eq(buffer_prepend_u8(&b, 8), 0);
    ck_assert_uint_eq(buffer_prependable(&b), 0);
    ck_assert_int_eq(buffer_prepend_u8(&b, 9), -ENOSPC); /* no room left */
    ck_assert_uint_eq(buffer_read_u8(&b), 8);
    ck_assert_uint_eq(buffer_read_u8(&b), 7);
    ck_assert_uint_eq(buffer_read_u16(&b), 0xABCD);
    ck_assert_uint_eq(buffer_read_u32(&b), 4);
    ck_assert_int_eq(memcmp(buffer_peek(&b), "body", 4), 0);
    /* A later growth that moves data does not break after a prepend. */
    char big[3000];
    memset(big, 'z', sizeof big);
    ck_assert_int_eq(buffer_append(&b, big, sizeof big), 0);
    ck_assert_int_eq(memcmp(buffer_peek(&b), "body", 4), 0);
    buffer_destroy(&b);
}
END_TEST

START_TEST(network_order_integers)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append_u64(&b, 0x0102030405060708ull), 0);
    ck_assert_int_eq(buffer_append_u32(&b, 0x0A0B0C0Du), 0);
    ck_assert_int_eq(buffer_append_u16(&b, 0x1122), 0);
    ck_assert_int_eq(buffer_append_u8(&b, 0x33), 0);
    const unsigned char expect[] = {1, 2, 3, 4, 5, 6, 7, 8, 0x0A, 0x0B,
                                    0x0C, 0x0D, 0x11, 0x22, 0x33};
    ck_assert_uint_eq(buffer_readable(&b), sizeof expect);
    ck_assert_int_eq(memcmp(buffer_peek(&b), expect, sizeof expect), 0);
    ck_assert_uint_eq(buffer_peek_u64(&b), 0x0102030405060708ull);
    ck_assert_uint_eq(buffer_read_u64(&b), 0x0102030405060708ull);
    ck_assert_uint_eq(buffer_peek_u32(&b), 0x0A0B0C0Du);
    ck_assert_uint_eq(buffer_read_u32(&b), 0x0A0B0C0Du);
    ck_assert_uint_eq(buffer_peek_u16(&b), 0x1122);
    ck_assert_uint_eq(buffer_read_u16(&b), 0x1122);
    ck_assert_uint_eq(buffer_peek_u8(&b), 0x33);
    ck_assert_uint_eq(buffer_read_u8(&b), 0x33);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    buffer_destroy(&b);
}
END_TEST

START_TEST(find_crlf_and_eol)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_ptr_null(buffer_find_crlf(&b));
    ck_assert_ptr_null(buffer_find_eol(&b));
    ck_assert_int_eq(buffer_append(&b, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27),
                     0);
    const char *crlf = buffer_find_crlf(&b);
    ck_assert_ptr_nonnull(crlf);
    ck_assert_int_eq(crlf - buffer_peek(&b), 14);
    const char *next = buffer_find_crlf_from(&b, crlf + 2);
    ck_assert_int_eq(next - buffer_peek(&b), 23);
    ck_assert_int_eq(buffer_find_eol(&b) - buffer_peek(&b), 15);
    buffer_retrieve_until(&b, crlf + 2);
    ck_assert_int_eq(memcmp(buffer_peek(&b), "Host", 4), 0);
    ck_assert_int_eq(buffer_append(&b, "\r", 1), 0); /* a lone CR is not CRLF */
    buffer_retrieve(&b, 9);
    ck_assert_ptr_nonnull(buffer_find_crlf(&b));
    buffer_retrieve(&b, 2);
    ck_assert_ptr_null(buffer_find_crlf(&b));
    buffer_destroy(&b);
}
END_TEST

START_TEST(shrink_keeps_the_data)
{
    struct buffer b;
    buffer_init(&b);
    char big[100000];
    memset(big, 'q', sizeof big);
    ck_assert_int_eq(buffer_append(&b, big, sizeof big), 0);
    buffer_retrieve(&b, sizeof big - 10);
    ck_assert_int_eq(buffer_shrink(&b, 16), 0);
    ck_assert_uint_eq(b.capacity, BUFFER_PREPEND + 10 + 16);
    ck_assert_uint_eq(buffer_readable(&b), 10);
    ck_assert_int_eq(memcmp(buffer_peek(&b), "qqqqqqqqqq", 10), 0);
    ck_assert_int_eq(buffer_shrink(&b, 100000), 0); /* never grows */
    ck_assert_uint_eq(b.capacity, BUFFER_PREPEND + 10 + 16);
    buffer_destroy(&b);
}
END_TEST

START_TEST(write_in_place)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_ensure_writable(&b, 5000), 0);
    ck_assert_uint_ge(buffer_writable(&b), 5000);
    memcpy(buffer_begin_write(&b), "abc", 3);
    buffer_has_written(&b, 3);
    ck_assert_uint_eq(buffer_readable(&b), 3);
    ck_assert_int_eq(memcmp(buffer_peek(&b), "abc", 3), 0);
    buffer_destroy(&b);
}
END_TEST

/* readv: the buffer's room plus the stack buffer. 200 KiB wait in a
 * socket; each read takes what fits in the room + 64 KiB. */
START_TEST(read_fd_spills_into_the_stack_buffer)
{
    int sv[2];
    test_socketpair(sv);
    int size = 1 << 20;
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &size,
                                sizeof size), 0);
    ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size,
                                sizeof size), 0);
    enum { TOTAL = 200 * 1024 };
    char *data = malloc(TOTAL);
    for (int i = 0; i < TOTAL; i++)
        data[i] = (char)(i * 7);
    size_t sent = 0;
    while (sent < TOTAL) {
        ssize_t n = write(sv[1], data + sent, TOTAL - sent);
        ck_assert_int_gt(n, 0);
        sent += (size_t)n;
    }
    struct buffer b;
    buffer_init(&b);
    ssize_t first = buffer_read_fd(&b, sv[0]);
    /* 1 KiB of room + 64 KiB on the stack, in one call */
    ck_assert_int_eq(first, BUFFER_INITIAL_SIZE + BUFFER_READ_EXTRA);
    ck_assert_uint_eq(buffer_readable(&b), (size_t)first);
    while (buffer_readable(&b) < TOTAL) {
        ssize_t n = buffer_read_fd(&b, sv[0]);
        ck_assert_int_gt(n, 0);
    }
    ck_assert_uint_eq(buffer_readable(&b), TOTAL);
    ck_assert_int_eq(memcmp(buffer_peek(&b), data, TOTAL), 0);
    ck_assert_int_eq(buffer_read_fd(&b, sv[0]), -EAGAIN);
    test_close(sv[1]);
    ck_assert_int_eq(buffer_read_fd(&b, sv[0]), 0); /* end of file */
    test_close(sv[0]);
    ck_assert_int_eq(buffer_read_fd(&b, sv[0]), -EBADF);
    buffer_destroy(&b);
    free(data);
}
END_TEST

START_TEST(absurd_sizes_are_refused_not_wrapped)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "abc", 3), 0);
    size_t capacity = b.capacity;
    ck_assert_int_eq(buffer_ensure_writable(&b, SIZE_MAX - 3), -ENOMEM);
    ck_assert_int_eq(buffer_ensure_writable(&b, SIZE_MAX), -ENOMEM);
    ck_assert_uint_eq(b.capacity, capacity); /* unchanged */
    ck_assert_int_eq(buffer_shrink(&b, SIZE_MAX), 0); /* nothing to give */
    ck_assert_int_eq(buffer_shrink(&b, SIZE_MAX - 5), 0);
    ck_assert_uint_eq(buffer_readable(&b), 3);
    ck_assert_int_eq(memcmp(buffer_peek(&b), "abc", 3), 0);
    buffer_destroy(&b);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch03 buffer");
    TCase *tc = tcase_create("buffer");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, new_buffer_is_empty_and_lazy);
    tcase_add_test(tc, append_and_retrieve);
    tcase_add_test(tc, growth_moves_data_forward_before_reallocating);
    tcase_add_test(tc, append_own_bytes_when_growing);
    tcase_add_test(tc, append_own_bytes_when_compacting);
    tcase_add_test(tc, prepend_uses_the_reserved_front);
    tcase_add_test(tc, network_order_integers);
    tcase_add_test(tc, find_crlf_and_eol);
    tcase_add_test(tc, shrink_keeps_the_data);
    tcase_add_test(tc, write_in_place);
    tcase_add_test(tc, read_fd_spills_into_the_stack_buffer);
    tcase_add_test(tc, absurd_sizes_are_refused_not_wrapped);
    suite_add_tcase(s, tc);
    return s;
}
