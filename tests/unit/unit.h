/* unit.h: the tiny assertion kit of the C unit tests.
 * A test file defines test functions and lists them in main with RUN(); CHECK failures
 * are counted, never abort, so one run reports every failing check. */
#ifndef OMERO_UNIT_H
#define OMERO_UNIT_H
#include <stdio.h>
#include <string.h>

static int unit_failed_checks;
static int unit_current_failed;
static int unit_passed, unit_failed;

#define CHECK(cond) do { if (!(cond)) { unit_failed_checks++; unit_current_failed = 1; \
    fprintf (stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); \
    if (!_a || !_b || strcmp (_a, _b) != 0) { unit_failed_checks++; unit_current_failed = 1; \
    fprintf (stderr, "  %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, _a ? _a : "(null)", _b ? _b : "(null)"); } } while (0)
#define CHECK_INT(a, b) do { long long _a = (long long) (a), _b = (long long) (b); \
    if (_a != _b) { unit_failed_checks++; unit_current_failed = 1; \
    fprintf (stderr, "  %s:%d: %s = %lld, expected %lld\n", __FILE__, __LINE__, #a, _a, _b); } } while (0)
#define RUN(fn) do { unit_current_failed = 0; fn (); \
    if (unit_current_failed) { unit_failed++; fprintf (stderr, "FAIL %s\n", #fn); } \
    else { unit_passed++; printf ("ok   %s\n", #fn); } } while (0)
#define UNIT_DONE() (printf ("%d passed, %d failed\n", unit_passed, unit_failed), unit_failed ? 1 : 0)
#endif
