/*
 * What chat_server and chat_client agree on. The protocol is the codec's
 * framing (net/codec.h) and nothing else: each frame is one chat line,
 * without its newline; the server sends every frame it receives to every
 * connected client, the sender included.
 *
 * A header of constants, like args.h: each example is one program built
 * from one source file.
 */
#ifndef MUDUO_EXAMPLES_CHAT_H
#define MUDUO_EXAMPLES_CHAT_H

/* The port both use unless told otherwise. */
#define CHAT_DEFAULT_PORT 9000

/* The longest line, in bytes. The server closes a connection that sends a
 * longer frame (a peer cannot make it buffer more than this for one
 * message); the client drops a longer line with a warning instead of
 * sending it. */
#define CHAT_MAX_LINE ((size_t)64 * 1024)

#endif /* MUDUO_EXAMPLES_CHAT_H */
