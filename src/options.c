/* options: parse GALLOCY_* variables from the one table in options.def. */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sizeclass.h"

struct options opt;

static int outside(long double v, long double lo, long double hi)
{
    return v < lo || v > hi;
}

int opt_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || s[0] == '-')
        return -EINVAL;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: break;
    }
    if (toupper((unsigned char)*end) == 'B' || (shift && toupper((unsigned char)*end) == 'I'))
        end += (toupper((unsigned char)*end) == 'I') ? 2 : 1; /* "1GiB", "1GB" */
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return -EINVAL;
    *out = (size_t)(v << shift);
    return 0;
}

static int parse_int(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *yes[] = {"1", "yes", "true", "on"}, *no[] = {"0", "no", "false", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) { *out = 1; return 0; }
        if (!strcasecmp(s, no[i])) { *out = 0; return 0; }
    }
    return -EINVAL;
}

static int parse_string(const char *s, const char **out)
{
    *out = s;
    return 0;
}

#define OPT_PARSER_size opt_parse_size
#define OPT_PARSER_int parse_int
#define OPT_PARSER_bool parse_bool
#define OPT_PARSER_string parse_string
#define OPT_EXPECT_size "a size in bytes such as 4096, 512M or 2G"
#define OPT_EXPECT_int "an integer"
#define OPT_EXPECT_bool "0 or 1"
#define OPT_EXPECT_string "a word"

int opt_load(char *err, size_t errlen)
{
    const char *v;
#define GALLOCY_OPTION(NAME, field, type, def, help)                                         \
    OPT_PARSER_##type(def, &opt.field);                                                      \
    v = getenv("GALLOCY_" #NAME);                                                            \
    if (v && *v && OPT_PARSER_##type(v, &opt.field) != 0) {                                  \
        snprintf(err, errlen, "GALLOCY_" #NAME "=%s is not " OPT_EXPECT_##type, v);          \
        return -EINVAL;                                                                      \
    }
#include "options.def"
#undef GALLOCY_OPTION
#define GALLOCY_OPTION(NAME, field, type, def, help)
#define GALLOCY_RANGE(NAME, field, lo, hi, text)                                           \
    if (outside((long double)opt.field, (long double)(lo), (long double)(hi))) {           \
        v = getenv("GALLOCY_" #NAME);                                                        \
        snprintf(err, errlen, "GALLOCY_" #NAME "=%s is out of range: it must be " text,      \
                 v && *v ? v : "(its default)");                                             \
        return -EINVAL;                                                                      \
    }
#include "options.def"
#undef GALLOCY_RANGE
#undef GALLOCY_OPTION
    /* The sizes every module reads, made final here (nothing rewrites opt after this): the
     * heap in whole superblocks, the collective area in whole 4 KiB pages. */
    opt.heap_size = (opt.heap_size + SB_BYTES - 1) & ~(SB_BYTES - 1);
    opt.coalloc_size = (opt.coalloc_size + 4095) & ~(size_t)4095;
    return 0;
}

/* The edit distance of a and b (short names), for a suggestion. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *const known_names[] = {
#define GALLOCY_OPTION(NAME, field, type, def, help) "GALLOCY_" #NAME,
#include "options.def"
#undef GALLOCY_OPTION
};

size_t opt_unknown(char *out, size_t len)
{
    extern char **environ;
    size_t found = 0, used = 0;
    if (len)
        out[0] = '\0';
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
        char name[64];
        if (n >= sizeof name || strncmp(*e, "GALLOCY_", 8) != 0 ||
            strncmp(*e, OPT_TEST_PREFIX, strlen(OPT_TEST_PREFIX)) == 0)
            continue;
        memcpy(name, *e, n);
        name[n] = '\0';
        const char *nearest = NULL;
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < sizeof known_names / sizeof *known_names; i++) {
            size_t d = distance(name, known_names[i]);
            if (d < best) {
                best = d;
                nearest = known_names[i];
            }
        }
        if (best == 0)
            continue;
        found++;
        if (used + 1 >= len)
            continue; /* counted, but no room to name it */
        int w = snprintf(out + used, len - used, "%s%s%s%s%s", found > 1 ? ", " : "", name,
                         best <= 3 ? " (did you mean " : "", best <= 3 ? nearest : "",
                         best <= 3 ? "?)" : "");
        if (w > 0)
            used = used + (size_t)w < len ? used + (size_t)w : len - 1;
    }
    return found;
}

#define OPT_FMT_size(x) fprintf(out, "%zu", (x))
#define OPT_FMT_int(x) fprintf(out, "%ld", (x))
#define OPT_FMT_bool(x) fprintf(out, "%d", (x))
#define OPT_FMT_string(x) fprintf(out, "%s", (x))

void opt_print(FILE *out)
{
#define GALLOCY_OPTION(NAME, field, type, def, help)                                         \
    fprintf(out, "GALLOCY_%-18s default %-6s current ", #NAME, def);                         \
    OPT_FMT_##type(opt.field);                                                               \
    fprintf(out, "\n    %s\n", help);
#include "options.def"
#undef GALLOCY_OPTION
}

/* JSON string: the option texts are plain, but escape what JSON needs anyway. */
void opt_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(out, "\\u%04x", (unsigned)(unsigned char)*s);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

#define OPT_JSON_size(x) fprintf(out, "%zu", (x))
#define OPT_JSON_int(x) fprintf(out, "%ld", (x))
#define OPT_JSON_bool(x) fprintf(out, "%s", (x) ? "true" : "false")
#define OPT_JSON_string(x) opt_json_string(out, (x))

void opt_print_json(FILE *out, const char *indent)
{
    const char *sep = "";
#define GALLOCY_OPTION(NAME, field, type, def, help)                                         \
    fprintf(out, "%s\n%s{\"name\": \"GALLOCY_" #NAME "\", \"type\": \"" #type "\", "             \
            "\"default\": ", sep, indent);                                                   \
    opt_json_string(out, def);                                                                   \
    fprintf(out, ", \"current\": ");                                                         \
    OPT_JSON_##type(opt.field);                                                              \
    fprintf(out, ", \"set\": %s, \"help\": ", getenv("GALLOCY_" #NAME) ? "true" : "false");   \
    opt_json_string(out, help);                                                                  \
    fputc('}', out);                                                                         \
    sep = ",";
#include "options.def"
#undef GALLOCY_OPTION
}
