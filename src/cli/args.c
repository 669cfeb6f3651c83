/* pprofgatectl argument helpers; see args.h. */
#include "src/cli/args.h"

#include <stdio.h>
#include <string.h>

#define MAX_MS (366LL * 24 * 3600 * 1000)

int pg_cli_parse_duration(const char *s, int64_t *ms)
{
	int64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return -1;
	while (*p) {
		int64_t n = 0, unit;
		const char *start = p;

		while (*p >= '0' && *p <= '9') {
			if (n > MAX_MS)
				return -1;
			n = n * 10 + (*p - '0');
			p++;
		}
		if (p == start)
			return -1;
		if (!*p && start == s) {
			unit = 1000; /* a bare number: seconds */
		} else if (p[0] == 'm' && p[1] == 's') {
			unit = 1;
			p += 2;
		} else if (*p == 'h' || *p == 'm' || *p == 's') {
			unit = *p == 'h' ? 3600000 : *p == 'm' ? 60000 : 1000;
			p++;
		} else {
			return -1;
		}
		if (n > MAX_MS / unit)
			return -1;
		total += n * unit;
		if (total > MAX_MS)
			return -1;
	}
	if (total <= 0)
		return -1;
	*ms = total;
	return 0;
}

int pg_cli_split_profiles(const char *s, char out[][32], size_t max, size_t *n)
{
	const char *p = s;

	*n = 0;
	if (!s || !*s)
		return -1;
	for (;;) {
		size_t l = strcspn(p, ",");
		if (l == 0 || l >= 32 || *n >= max)
			return -1;
		for (size_t i = 0; i < l; i++) {
			char ch = p[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			      ch == '_' || ch == '-' || ch == '.'))
				return -1;
		}
		memcpy(out[*n], p, l);
		out[*n][l] = '\0';
		(*n)++;
		if (!p[l])
			return 0;
		p += l + 1;
	}
}

int pg_cli_flag(int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t nl = strlen(name);

	if (strncmp(a, name, nl) != 0)
		return 0;
	if (a[nl] == '=') {
		*val = a + nl + 1;
		return 1;
	}
	if (a[nl] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*val = argv[++*i];
	return 1;
}

bool pg_cli_endpoint_ok(const char *s)
{
	const char *colon;

	if (!s || !*s || strlen(s) > 512)
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	if (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0)
		return strlen(s) > 8;
	colon = strrchr(s, ':');
	if (!colon || colon == s || !colon[1] || strlen(colon + 1) > 5)
		return false;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

void pg_cli_format_secs(int64_t secs, char *out, size_t cap)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 3600)
		snprintf(out, cap, "%lldh%02lldm%02llds", (long long)(secs / 3600), (long long)(secs % 3600 / 60),
			 (long long)(secs % 60));
	else if (secs >= 60)
		snprintf(out, cap, "%lldm%02llds", (long long)(secs / 60), (long long)(secs % 60));
	else
		snprintf(out, cap, "%llds", (long long)secs);
}
