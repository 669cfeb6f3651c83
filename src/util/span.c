#include "src/util/span.h"

#include <stdatomic.h>
#include <stddef.h>

static _Atomic(const struct pg_span_hook *) hook;

void pg_span_set_hook(const struct pg_span_hook *h)
{
	atomic_store(&hook, h);
}

int pg_span_active(void)
{
	const struct pg_span_hook *h = atomic_load_explicit(&hook, memory_order_acquire);

	return h && h->active();
}

void pg_span_event(const char *cat, const char *name, int64_t start_ns, int64_t dur_ns)
{
	const struct pg_span_hook *h = atomic_load_explicit(&hook, memory_order_acquire);

	if (h)
		h->event(cat, name, start_ns, dur_ns);
}
