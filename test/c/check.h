/*
 * Shared by the libnats test clients in this folder. A client defines
 * `static int run(const char *url)`, prints one "ok <step>" line per passed step and returns
 * failed(step, reason) on the first failure; this header supplies failed() and main()
 * (usage: <program> <nats-url>; "ok done" once run() succeeded).
 */
#include <nats/nats.h>
#include <stdio.h>

static int failed(const char *step, const char *why) {
    printf("FAIL %s: %s\n", step, why);
    fflush(stdout);
    return 1;
}

static int run(const char *url);

int main(int argc, char **argv) {
    int rc;
    if (argc < 2) {
        fprintf(stderr, "usage: %s <nats-url>\n", argv[0]);
        return 2;
    }
    rc = run(argv[1]);
    if (rc == 0) {
        printf("ok done\n");
        fflush(stdout);
    }
    nats_Close();
    return rc;
}
