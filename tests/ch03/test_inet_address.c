/* Addresses: parsing, formatting, comparison; and the socket helpers. */
#include "test_support.h"

#include "net/inet_address.h"
#include "net/sockets.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

START_TEST(parse_and_format)
{
    struct inet_address a;
    char text[INET_ADDRESS_STRLEN];
    ck_assert_int_eq(inet_address_parse(&a, "127.0.0.1:8080"), 0);
    ck_assert_int_eq(inet_address_family(&a), AF_INET);
    ck_assert_uint_eq(inet_address_port(&a), 8080);
    ck_assert_str_eq(inet_address_to_string(&a, text, sizeof text),
                     "127.0.0.1:8080");
    ck_assert_int_eq(inet_address_parse(&a, "[::1]:9"), 0);
    ck_assert_int_eq(inet_address_family(&a), AF_INET6);
    ck_assert_str_eq(inet_address_to_string(&a, text, sizeof text), "[::1]:9");
    ck_assert_str_eq(inet_address_ip_string(&a, text, sizeof text), "::1");
    ck_assert_int_eq(inet_address_parse(&a, "65535"), 0);
    ck_assert_str_eq(inet_address_to_string(&a, text, sizeof text),
                     "127.0.0.1:65535");
    ck_assert_int_eq(inet_address_from_ip(&a, "fe80::1", 443), 0);
    ck_assert_str_eq(inet_address_to_string(&a, text, sizeof text),
                     "[fe80::1]:443");
}
END_TEST

START_TEST(bad_input_is_refused)
{
    struct inet_address a;
    const char *bad[] = {"",          "localhost:80", "1.2.3.4:",
                         "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3:80",
                         "[::1]80",   "[::1:80",      "::1:80",
                         "[zz]:80",   "80x",          "1.2.3.4:8 0",
                         "127.0.0.1: 80", "127.0.0.1:+80", " 80",
                         "+80",       "[1.2.3.4]:80", "-0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(inet_address_parse(&a, bad[i]) == -EINVAL,
                      "accepted '%s'", bad[i]);
    ck_assert_int_eq(inet_address_from_ip(&a, "300.1.1.1", 1), -EINVAL);
}
END_TEST

START_TEST(loopback_any_and_equality)
{
    struct inet_address a, b;
    inet_address_loopback(&a, 7, false);
    ck_assert_int_eq(inet_address_parse(&b, "127.0.0.1:7"), 0);
    ck_assert(inet_address_equal(&a, &b));
    inet_address_loopback(&b, 8, false);
    ck_assert(!inet_address_equal(&a, &b));
    inet_address_loopback(&b, 7, true);
    ck_assert(!inet_address_equal(&a, &b)); /* different family */
    inet_address_any(&a, 0, true);
    char text[INET_ADDRESS_STRLEN];
    ck_assert_str_eq(inet_address_to_string(&a, text, sizeof text), "[::]:0");
    inet_address_any(&a, 5, false);
    ck_assert_str_eq(inet_address_to_string(&a, text, sizeof text),
                     "0.0.0.0:5");
}
END_TEST

START_TEST(sockets_are_nonblocking_and_cloexec)
{
    int fd = sockets_create_nonblocking(AF_INET);
    ck_assert_int_ge(fd, 0);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    struct inet_address addr, bound;
    inet_address_loopback(&addr, 0, false);
    ck_assert_int_eq(sockets_set_reuse_addr(fd, true), 0);
    ck_assert_int_eq(sockets_bind(fd, &addr), 0);
    ck_assert_int_eq(sockets_listen(fd), 0);
    ck_assert_int_eq(sockets_local_address(fd, &bound), 0);
    ck_assert_uint_ne(inet_address_port(&bound), 0);
    ck_assert_int_eq(sockets_accept(fd, NULL), -EAGAIN);

    int client = sockets_create_nonblocking(AF_INET);
    int rc = sockets_connect(client, &bound);
    ck_assert(rc == 0 || rc == -EINPROGRESS);
    struct inet_address peer;
    int conn;
    while ((conn = sockets_accept(fd, &peer)) == -EAGAIN)
        usleep(1000);
    ck_assert_int_ge(conn, 0);
    ck_assert(fcntl(conn, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(conn, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(sockets_get_error(client), 0);
    ck_assert(!sockets_is_self_connect(client));
    ck_assert_int_eq(sockets_set_tcp_nodelay(conn, true), 0);
    ck_assert_int_eq(sockets_set_keepalive(conn, true), 0);
    struct inet_address client_local;
    ck_assert_int_eq(sockets_local_address(client, &client_local), 0);
    ck_assert(inet_address_equal(&client_local, &peer));
    test_close(conn);
    test_close(client);
    test_close(fd);
}
END_TEST

START_TEST(self_connect_is_detected)
{
    /* Connecting a socket bound to a port to that same port: TCP
     * simultaneous open makes it its own peer. */
    int fd = sockets_create_nonblocking(AF_INET);
    ck_assert_int_ge(fd, 0);
    struct inet_address addr, bound;
    inet_address_loopback(&addr, 0, false);
    ck_assert_int_eq(sockets_bind(fd, &addr), 0);
    ck_assert_int_eq(sockets_local_address(fd, &bound), 0);
    int rc = sockets_connect(fd, &bound);
    ck_assert_msg(rc == 0 || rc == -EINPROGRESS, "connect: %s",
                  strerror(-rc));
    for (int i = 0; i < 100 && sockets_get_error(fd) == 0 &&
                    !sockets_is_self_connect(fd);
         i++)
        usleep(1000);
    ck_assert(sockets_is_self_connect(fd));
    test_close(fd);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch03 addresses and sockets");
    TCase *tc = tcase_create("inet_address");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, parse_and_format);
    tcase_add_test(tc, bad_input_is_refused);
    tcase_add_test(tc, loopback_any_and_equality);
    tcase_add_test(tc, sockets_are_nonblocking_and_cloexec);
    tcase_add_test(tc, self_connect_is_detected);
    suite_add_tcase(s, tc);
    return s;
}
