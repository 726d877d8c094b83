/* password: slow salted password hashes for the `password` table.
 * Stored form is self-describing so the cost can be raised later without breaking old rows:
 *   $pbkdf2-sha256$i=<iterations>$<salt base64>$<hash base64>
 *   $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt base64>$<hash base64>
 * Verification compares in constant time. */
#ifndef BLZ_PASSWORD_H
#define BLZ_PASSWORD_H
#include "omr_error.h"
#include <stdbool.h>
#include <stddef.h>

#define BLZ_PASSWORD_MAX 256          /* length of a stored hash, including the NUL */
#define BLZ_PBKDF2_ITERATIONS 100000  /* default cost: about 60-100 ms on one core */

/* Hash a password with PBKDF2-HMAC-SHA256 (iterations <= 0 = default) and a fresh 16-byte
 * salt into out (BLZ_PASSWORD_MAX bytes). */
int blz_password_hash (const char *password, int iterations, char out[BLZ_PASSWORD_MAX], omr_err_t *err);
/* Hash with scrypt (log2 N, r, p) into out; used when omero.security.password_hash is scrypt. */
int blz_password_hash_scrypt (const char *password, int ln, int r, int p, char out[BLZ_PASSWORD_MAX],
                              omr_err_t *err);
/* Whether password matches a stored hash. A NULL, empty or unparsable stored value never
 * matches, but a PBKDF2 of burn_iterations (<= 0 = default) is still computed, so the timing
 * does not tell an unknown user from a wrong password. */
bool blz_password_verify (const char *password, const char *stored, int burn_iterations);
/* Whether a stored value is one of our hash formats (false for NULL, "" or legacy values). */
bool blz_password_is_hash (const char *stored);
/* A random printable password of len-1 characters (for root's generated password). */
int blz_password_random (char *out, size_t len, omr_err_t *err);
#endif
