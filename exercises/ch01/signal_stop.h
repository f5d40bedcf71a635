/**
 * @file signal_stop.h
 * @brief Ends an event loop cleanly on SIGINT or SIGTERM, through a
 * signalfd that the loop watches like any other fd.
 *
 * Contract
 * - A signal handler may not call event_loop_quit() (nor almost anything
 *   else). A signalfd turns a signal into a readable fd instead: the loop
 *   wakes up, a read callback reads which signal came, in the loop thread,
 *   and quits the loop there, after the round, like any other callback.
 * - Only a blocked signal reaches a signalfd: an unblocked one takes its
 *   default action first, which for SIGINT and SIGTERM ends the process.
 *   So the caller blocks both (pthread_sigmask()) in the loop thread, and
 *   in every other thread, before signal_stop_new(); blocking them before
 *   creating any thread does both, since threads inherit the mask.
 *   signal_stop_new() refuses to start otherwise.
 * - Each SIGINT or SIGTERM that arrives while the loop runs ends that run
 *   of the loop and is consumed (read from the fd): it is no longer
 *   pending afterwards. The loop may be run again; the next signal ends
 *   that run too. Other signals are left alone.
 * - Owns its signalfd; the loop is the caller's, and must outlive it.
 *   Loop thread only: every function here runs in the thread of @p loop.
 */
#ifndef EXERCISE_SIGNAL_STOP_H
#define EXERCISE_SIGNAL_STOP_H

struct event_loop;
struct signal_stop;

/**
 * @brief Starts watching SIGINT and SIGTERM in @p loop.
 * @return the watcher, or NULL with errno set: EINVAL when SIGINT or
 * SIGTERM is not blocked in the calling thread, or the error of
 * signalfd(), malloc() or the poller.
 */
struct signal_stop *signal_stop_new(struct event_loop *loop);

/**
 * @brief The signal that ended the last run of the loop (SIGINT or
 * SIGTERM), or 0 when none has come yet.
 */
int signal_stop_signal(const struct signal_stop *s);

/**
 * @brief Stops watching, closes the signalfd and frees @p s (NULL is
 * accepted). Call it while the loop is not running, and before
 * event_loop_free(), which insists that no channel is left in the loop.
 */
void signal_stop_free(struct signal_stop *s);

#endif /* EXERCISE_SIGNAL_STOP_H */
