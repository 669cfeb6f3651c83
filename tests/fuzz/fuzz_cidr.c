/* Fuzzes allowlist parsing, address parsing and the X-Forwarded-For walk.
 * Input: allowlist entries, a newline, a peer address, a newline, the
 * X-Forwarded-For value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *peer_s, *xff;
	struct pg_auth_cidr_list *l = NULL;
	struct pg_auth_addr peer, client;
	char txt[PG_AUTH_ADDR_TEXT_MAX];

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	peer_s = strchr(in, '\n');
	if (peer_s)
		*peer_s++ = '\0';
	xff = peer_s ? strchr(peer_s, '\n') : NULL;
	if (xff)
		*xff++ = '\0';
	if (pg_auth_cidr_list_new(&l) != PG_OK)
		goto out;
	if (pg_auth_cidr_list_add_many(l, in) != PG_OK && pg_auth_cidr_list_add(l, in) == PG_OK)
		abort(); /* a single entry that add_many refused cannot be valid */
	if (peer_s && pg_auth_addr_parse(peer_s, strlen(peer_s), &peer) == PG_OK) {
		(void)pg_auth_cidr_list_match(l, &peer);
		(void)pg_auth_addr_is_loopback(&peer);
		if (pg_auth_client_addr(l, &peer, xff, &client) == PG_OK) {
			pg_auth_addr_format(&client, txt, sizeof(txt));
			/* The client is the peer unless the peer is a trusted proxy. */
			if (!pg_auth_cidr_list_match(l, &peer) &&
			    memcmp(&client, &peer, sizeof(peer)) != 0)
				abort();
		}
	}
out:
	pg_auth_cidr_list_free(&l);
	free(in);
	return 0;
}
