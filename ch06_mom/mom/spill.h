/**
 * @file spill.h
 * @brief A subscriber's overflow on disk: a FIFO of records in one file,
 * so that a slow but alive subscriber loses nothing.
 *
 * Once what the broker has queued for one subscriber passes its memory
 * high-water mark, everything else that subscriber is sent goes, in order,
 * into its spill; the spill drains into the connection as the socket
 * drains, and when it is empty the caller closes it and the subscriber is
 * served from memory again.
 *
 * A record is a header (SPILL_HEADER_SIZE bytes: the payload's length and
 * whether the record is droppable) followed by the payload. A published
 * message is droppable; a reply to a command is not, since a client that
 * misses a reply loses track of which reply answers which command.
 *
 * Contract
 * - The caller owns a spill (spill_open / spill_close) and uses it from
 *   one thread, its connection's loop thread; nothing inside is locked.
 * - The I/O is blocking file I/O on a local disk, done in the caller's
 *   thread. That is accepted: a page-cache write or read is short next to
 *   the network, and a spill only exists while its subscriber is behind.
 *   A directory on a network file system would stall the whole loop.
 * - spill_bytes() is the number the caps are enforced on: the logical
 *   bytes pending, headers included (what spill_append() added minus what
 *   spill_read() and spill_drop_oldest() took). The caps themselves, per
 *   subscriber and global, are the caller's: it adds the change of
 *   spill_bytes() to its own (atomic) total.
 * - The file's format is private to the process that wrote it (native
 *   byte order). It is not a journal: a spill left by a crash is garbage,
 *   removed by spill_remove_stale() at start-up.
 * - Space on disk: what has been consumed at the head is given back to
 *   the file system (a hole is punched) every SPILL_PUNCH_BYTES, where the
 *   file system supports it, and the file is cut to 0 bytes whenever the
 *   FIFO becomes empty. The disk usage of a spill thus stays near
 *   spill_bytes() even when drop-oldest keeps it from ever draining.
 * - Memory: a spill keeps its offsets, counts and path, nothing of the
 *   records; a read puts payloads straight into the caller's buffer.
 * - The file is created with mode 0600 and its fd is close-on-exec.
 * - Errors are negative errno values. An append that fails (-ENOSPC,
 *   -EFBIG, -EIO) adds nothing: the FIFO holds the records it held, and
 *   they read back unchanged. Interrupted calls (EINTR) are retried.
 */
#ifndef MUDUO_MOM_SPILL_H
#define MUDUO_MOM_SPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buffer;

/** @brief The name ending of every spill file: spill_remove_stale()
 * removes only files whose name ends with it. */
#define SPILL_SUFFIX ".spill"
/** @brief Bytes of a record's header on disk, counted by spill_bytes(). */
#define SPILL_HEADER_SIZE 8
/** @brief Longest payload of one record (the header holds 32 bits). */
#define SPILL_RECORD_MAX ((size_t)UINT32_MAX)
/** @brief Consumed bytes at the head of the file after which their disk
 * blocks are given back (a hole is punched). Smaller would punch more
 * often for little gain; larger would keep more dead bytes on disk. */
#define SPILL_PUNCH_BYTES ((uint64_t)1024 * 1024)

/** @brief A spill; opaque. */
struct spill;

/**
 * @brief Creates the file @p dir/@p name (it must not exist yet), mode
 * 0600, and an empty spill in it.
 *
 * @p name is one path component; it should start with the caller's prefix
 * and end with SPILL_SUFFIX, so that spill_remove_stale() finds it after a
 * crash.
 * @param dir an existing directory, on a local file system.
 * @param name the file's name in @p dir.
 * @param err set to a negative errno on failure: -EEXIST (the name is
 * taken), -ENOENT (no such @p dir), -ENAMETOOLONG (@p name longer than
 * NAME_MAX, or the path than PATH_MAX), -EINVAL (@p name empty, ".",
 * "..", or with a '/'), -ENOMEM, or what open(2) reports.
 * @return the spill, or NULL.
 */
struct spill *spill_open(const char *dir, const char *name, int *err);

/**
 * @brief Closes the spill, removes its file and frees it. NULL is a no-op.
 */
void spill_close(struct spill *s);

/**
 * @brief Appends one record of @p len bytes (0 is allowed).
 *
 * The record counts only once all of it is in the file: on failure the
 * FIFO is unchanged, and what a short write had put past its end is cut
 * off again.
 * @param s the spill.
 * @param data the payload (may be NULL when @p len is 0).
 * @param len its length.
 * @param droppable true for a published message, which
 * spill_drop_oldest() may drop; false for a reply, which it never drops.
 * @return 0; -EMSGSIZE when @p len > SPILL_RECORD_MAX; -ENOSPC, -EFBIG,
 * -EIO or another errno of pwrite(2).
 */
int spill_append(struct spill *s, const void *data, size_t len,
                 bool droppable);

/**
 * @brief Moves whole records from the head into @p out: their payloads,
 * one after the other, without the headers.
 *
 * Records are taken while their payloads add up to at most @p max bytes,
 * but the first one always is, whatever its size: a record larger than
 * @p max (or any record with @p max 0) is moved alone and whole.
 * @return the payload bytes moved (0 for a record of 0 bytes too: check
 * spill_empty() or spill_records()), 0 when empty, or a negative errno:
 * -ENOMEM from @p out, -EIO when the file does not hold what was written
 * (it was cut or changed behind the spill's back), or an errno of
 * pread(2). An error after some records were moved returns what was moved
 * and shows at the next call.
 */
ssize_t spill_read(struct spill *s, struct buffer *out, size_t max);

/**
 * @brief Drops droppable records from the head until spill_bytes() is at
 * most @p target_bytes, stopping at the first record that is not
 * droppable (a reply at the head must still be sent first).
 *
 * @param s the spill.
 * @param target_bytes the spill_bytes() to get down to.
 * @param records_dropped incremented by the number of records dropped.
 * @param bytes_dropped incremented by their bytes, headers included (the
 * unit of spill_bytes(), so that the caller's total can follow).
 * @return 0 whether or not @p target_bytes was reached (the caller checks
 * spill_bytes() and applies its policy), or a negative errno as
 * spill_read() reports them; what was dropped before an error is counted.
 */
int spill_drop_oldest(struct spill *s, uint64_t target_bytes,
                      uint64_t *records_dropped, uint64_t *bytes_dropped);

/** @brief Logical bytes pending, headers included: the sum over the
 * pending records of SPILL_HEADER_SIZE plus the payload's length. */
uint64_t spill_bytes(const struct spill *s);
/** @brief Records pending. */
uint64_t spill_records(const struct spill *s);
/** @brief True when no record is pending. */
bool spill_empty(const struct spill *s);
/** @brief The file's path (dir/name), for logs; valid until spill_close(). */
const char *spill_path(const struct spill *s);

/**
 * @brief Removes the regular files in @p dir whose name is @p prefix,
 * then anything, then SPILL_SUFFIX: the spills that a broker that crashed
 * left behind. Call it at start-up, before any spill of that prefix is
 * opened: it would remove a live spill's file too.
 * @return the number of files removed, or a negative errno (-ENOENT when
 * @p dir does not exist; the first failure to remove a file stops it).
 */
int spill_remove_stale(const char *dir, const char *prefix);

#endif /* MUDUO_MOM_SPILL_H */
