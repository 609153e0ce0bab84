/* options: the GALLOCY_* environment variables, parsed from the table in options.def. */
#ifndef GALLOCY_OPTIONS_H
#define GALLOCY_OPTIONS_H
#include <stddef.h>
#include <stdio.h>

#define OPT_CTYPE_size size_t
#define OPT_CTYPE_int long
#define OPT_CTYPE_bool int
#define OPT_CTYPE_string const char *

struct options {
#define GALLOCY_OPTION(NAME, field, type, def, help) OPT_CTYPE_##type field;
#include "options.def"
#undef GALLOCY_OPTION
};

extern struct options opt;

/* Reads every option from the environment (defaults where unset).  Returns 0, or -EINVAL
 * after writing a message naming the variable into err. */
int opt_load(char *err, size_t errlen);
/* Variables of the environment named GALLOCY_ that are not options (nor GALLOCY_TEST_*,
 * the test harness's): how many, and in out their names, each with the nearest option
 * when it is a likely misspelling. */
#define OPT_TEST_PREFIX "GALLOCY_TEST_"
size_t opt_unknown(char *out, size_t len);
/* Writes one line per option: name, default, current value, help. */
void opt_print(FILE *out);
/* The same as JSON objects, one per line, comma-separated, each line starting with indent
 * (the caller writes the enclosing brackets). */
void opt_print_json(FILE *out, const char *indent);
/* s as a JSON string, quoted and escaped. */
void opt_json_string(FILE *out, const char *s);
/* Parses "512M", "2G", "4096" into bytes; 0 on success, -EINVAL otherwise. */
int opt_parse_size(const char *s, size_t *out);

#endif
