#include "src/http/request.h"

#include <string.h>
#include <strings.h>

const struct pg_http_fault pg_http_fault_malformed = {"malformed_request", "malformed request"};
static const struct pg_http_fault ctl_in_line = {"ctl_in_request_line", "control byte in the request line"};
static const struct pg_http_fault ctl_in_header = {"ctl_in_header", "control byte in a header field"};
static const struct pg_http_fault bad_name = {"bad_header_name", "invalid header field name"};
static const struct pg_http_fault bad_method = {"bad_method", "invalid request method"};
static const struct pg_http_fault dup_auth = {"duplicate_authorization", "more than one Authorization header"};
static const struct pg_http_fault dup_field = {"duplicate_header", "repeated Host or Content-Length header"};

static int is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* RFC 9110 section 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" /
 * "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && memchr("!#$%&'*+-.^_`|~", c, 15) != NULL);
}

static int has_ctl(const char *s, size_t n, int allow_htab)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_ctl(c) && !(allow_htab && c == '\t'))
			return 1;
	}
	return 0;
}

static int name_is(const struct pg_http_field *f, const char *name)
{
	return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

static int is_token(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

const struct pg_http_fault *pg_http_request_check(const char *method, size_t method_len, const char *target,
						  size_t target_len, const struct pg_http_field *fields,
						  size_t n_fields)
{
	size_t n_auth = 0, n_host = 0, n_clen = 0;

	if ((method_len && !method) || (target_len && !target) || (n_fields && !fields))
		return &pg_http_fault_malformed;
	if (has_ctl(method, method_len, 0) || has_ctl(target, target_len, 0))
		return &ctl_in_line;
	if (!is_token(method, method_len))
		return &bad_method;
	for (size_t i = 0; i < n_fields; i++) {
		const struct pg_http_field *f = &fields[i];

		if ((f->name_len && !f->name) || (f->value_len && !f->value))
			return &pg_http_fault_malformed;
		if (has_ctl(f->name, f->name_len, 0) || has_ctl(f->value, f->value_len, 1))
			return &ctl_in_header;
		if (!is_token(f->name, f->name_len))
			return &bad_name;
		/* RFC 9110 section 5.3 allows joining repeated fields only for
		 * list-valued ones; Authorization is not one (RFC 9110 section
		 * 11.6.2), so two of them are ambiguous, whatever they hold. */
		if (name_is(f, "Authorization") && ++n_auth > 1)
			return &dup_auth;
		/* RFC 9112 section 3.2 (Host) and 6.3 (Content-Length): a
		 * second one is a smuggling attempt or a broken client. */
		if ((name_is(f, "Host") && ++n_host > 1) || (name_is(f, "Content-Length") && ++n_clen > 1))
			return &dup_field;
	}
	return NULL;
}
