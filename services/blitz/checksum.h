/* checksum: the file checksums OMERO offers for uploads (omero.checksum.supported), computed
 * incrementally so that a file is hashed while it streams, on the client and on the server.
 * Hex output follows OMERO (Guava's HashCode.toString: the hash bytes in order; the 32-bit
 * and size values as their little-endian bytes). */
#ifndef BLZ_CHECKSUM_H
#define BLZ_CHECKSUM_H
#include "omr_error.h"
#include <stddef.h>
#include <stdint.h>

typedef struct blz_checksum_t blz_checksum_t;

/* A hasher for an algorithm name ("SHA1-160", "MD5-128", "Murmur3-32", "Murmur3-128",
 * "CRC-32", "Adler-32", "File-Size-64"); NULL with ApiUsageException when unknown. */
blz_checksum_t *blz_checksum_new (const char *algorithm, omr_err_t *err);
/* Feed bytes. */
void blz_checksum_update (blz_checksum_t *self, const void *data, size_t len);
/* Finish into lower-case hex (out must hold 65 bytes) and free the hasher. */
void blz_checksum_final (blz_checksum_t **self, char out[65]);
/* Whether a name is an algorithm this code computes. */
int blz_checksum_known (const char *algorithm);
/* OMERO's suggestChecksumAlgorithm: the first algorithm of the server's comma-separated
 * `supported` list (omero.checksum.supported) that the client also offers (`client`,
 * comma-separated; NULL = every known algorithm); NULL when there is none. The result points
 * into a static name table. */
const char *blz_checksum_negotiate (const char *client, const char *supported);
/* Checksum of a whole file; 0 or -1 with err naming the file. */
int blz_checksum_file (const char *algorithm, const char *path, char out[65], omr_err_t *err);
#endif
