/* options: parse GALLOCY_* variables from the one table in options.def. */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct options opt;

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
    return 0;
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
