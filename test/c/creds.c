/*
 * A libnats client logging in with a .creds file (operator mode), run by
 * test/auth_jwt.test.ts. The file is named by NATS_TEST_CREDS. Usage and output: see check.h.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define CHECK(step, call)                                          \
    do {                                                           \
        natsStatus s_ = (call);                                    \
        if (s_ != NATS_OK) return failed(step, natsStatus_GetText(s_)); \
    } while (0)

static int run(const char *url) {
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *msg = NULL;
    const char *creds = getenv("NATS_TEST_CREDS");

    if (creds == NULL) return failed("env", "NATS_TEST_CREDS not set");
    CHECK("options", natsOptions_Create(&opts));
    CHECK("url", natsOptions_SetURL(opts, url));
    CHECK("creds", natsOptions_SetUserCredentialsFromFiles(opts, creds, NULL));
    CHECK("connect", natsConnection_Connect(&nc, opts));
    printf("ok connect\n");

    CHECK("subscribe", natsConnection_SubscribeSync(&sub, nc, "creds.>"));
    CHECK("publish", natsConnection_PublishString(nc, "creds.c", "from C"));
    CHECK("next", natsSubscription_NextMsg(&msg, sub, 2000));
    if (natsMsg_GetDataLength(msg) != 6 || memcmp(natsMsg_GetData(msg), "from C", 6) != 0)
        return failed("pubsub", "wrong payload");
    natsMsg_Destroy(msg);
    printf("ok pubsub\n");

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    return 0;
}
