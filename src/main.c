/* pprofgate: entry point. Wiring only; each concern lives in its module. */
#include <stdio.h>

int main(void)
{
	printf("pprofgate %s\n", PG_VERSION);
	return 0;
}
