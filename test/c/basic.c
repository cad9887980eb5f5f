/*
 * A libnats (cnats) client run against tsnats by test/core_c_client.test.ts.
 * Usage and output: see check.h.
 */
#include <string.h>

#include "check.h"

#define CHECK(step, call)                                          \
    do {                                                           \
        natsStatus s_ = (call);                                    \
        if (s_ != NATS_OK) return failed(step, natsStatus_GetText(s_)); \
    } while (0)

/* Replies "re:<request>" to every request. */
static void onRequest(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    char reply[256];
    (void)sub;
    (void)closure;
    snprintf(reply, sizeof reply, "re:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    natsConnection_PublishString(nc, natsMsg_GetReply(msg), reply);
    natsMsg_Destroy(msg);
}

static int run(const char *url) {
    natsConnection *nc = NULL;
    natsSubscription *sync = NULL, *svc = NULL, *q1 = NULL, *q2 = NULL;
    natsMsg *msg = NULL;
    natsSubscription *autoSub = NULL;
    int i, n1 = 0, n2 = 0, nAuto = 0;

    CHECK("connect", natsConnection_ConnectTo(&nc, url));
    printf("ok connect\n");

    /* Publish / subscribe. */
    CHECK("subscribe", natsConnection_SubscribeSync(&sync, nc, "c.test.*"));
    CHECK("publish", natsConnection_PublishString(nc, "c.test.one", "hello from C"));
    CHECK("next", natsSubscription_NextMsg(&msg, sync, 2000));
    if (strcmp(natsMsg_GetSubject(msg), "c.test.one") != 0) return failed("pubsub", "wrong subject");
    if (natsMsg_GetDataLength(msg) != 12 || memcmp(natsMsg_GetData(msg), "hello from C", 12) != 0)
        return failed("pubsub", "wrong payload");
    natsMsg_Destroy(msg);
    msg = NULL;
    printf("ok pubsub\n");

    /* Headers. */
    CHECK("hdr create", natsMsg_Create(&msg, "c.test.hdr", NULL, "body", 4));
    CHECK("hdr set", natsMsgHeader_Set(msg, "X-Lang", "C"));
    CHECK("hdr publish", natsConnection_PublishMsg(nc, msg));
    natsMsg_Destroy(msg);
    msg = NULL;
    CHECK("hdr next", natsSubscription_NextMsg(&msg, sync, 2000));
    {
        const char *v = NULL;
        CHECK("hdr get", natsMsgHeader_Get(msg, "X-Lang", &v));
        if (v == NULL || strcmp(v, "C") != 0) return failed("headers", "header value lost");
        if (natsMsg_GetDataLength(msg) != 4) return failed("headers", "payload lost");
    }
    natsMsg_Destroy(msg);
    msg = NULL;
    printf("ok headers\n");

    /* Request / reply. */
    CHECK("svc subscribe", natsConnection_Subscribe(&svc, nc, "c.svc", onRequest, NULL));
    CHECK("flush", natsConnection_Flush(nc));
    for (i = 0; i < 20; i++) {
        char req[32], want[40];
        snprintf(req, sizeof req, "q%d", i);
        snprintf(want, sizeof want, "re:q%d", i);
        CHECK("request", natsConnection_RequestString(&msg, nc, "c.svc", req, 2000));
        if (natsMsg_GetDataLength(msg) != (int)strlen(want) || memcmp(natsMsg_GetData(msg), want, strlen(want)) != 0)
            return failed("request", "wrong reply");
        natsMsg_Destroy(msg);
        msg = NULL;
    }
    printf("ok request\n");

    /* No responders. */
    {
        natsStatus s = natsConnection_RequestString(&msg, nc, "c.nobody", "x", 2000);
        if (s != NATS_NO_RESPONDERS) return failed("noresponders", natsStatus_GetText(s));
    }
    printf("ok noresponders\n");

    /* Queue group: 100 messages, each to exactly one member. */
    CHECK("q1", natsConnection_QueueSubscribeSync(&q1, nc, "c.work", "workers"));
    CHECK("q2", natsConnection_QueueSubscribeSync(&q2, nc, "c.work", "workers"));
    for (i = 0; i < 100; i++) CHECK("q publish", natsConnection_PublishString(nc, "c.work", "job"));
    CHECK("q flush", natsConnection_Flush(nc));
    while (natsSubscription_NextMsg(&msg, q1, 200) == NATS_OK) {
        n1++;
        natsMsg_Destroy(msg);
    }
    while (natsSubscription_NextMsg(&msg, q2, 200) == NATS_OK) {
        n2++;
        natsMsg_Destroy(msg);
    }
    msg = NULL;
    if (n1 + n2 != 100) return failed("queue", "not exactly one delivery per message");
    printf("ok queue %d+%d\n", n1, n2);

    /* Auto-unsubscribe: the server stops after 2 messages. */
    CHECK("auto subscribe", natsConnection_SubscribeSync(&autoSub, nc, "c.auto"));
    CHECK("auto unsub", natsSubscription_AutoUnsubscribe(autoSub, 2));
    for (i = 0; i < 5; i++) CHECK("auto publish", natsConnection_PublishString(nc, "c.auto", "x"));
    CHECK("auto flush", natsConnection_Flush(nc));
    while (natsSubscription_NextMsg(&msg, autoSub, 300) == NATS_OK) {
        nAuto++;
        natsMsg_Destroy(msg);
    }
    msg = NULL;
    if (nAuto != 2) return failed("autounsub", "expected exactly 2 messages");
    printf("ok autounsub\n");

    natsSubscription_Destroy(sync);
    natsSubscription_Destroy(svc);
    natsSubscription_Destroy(q1);
    natsSubscription_Destroy(q2);
    natsSubscription_Destroy(autoSub);
    CHECK("drain", natsConnection_Drain(nc));
    natsConnection_Destroy(nc);
    return 0;
}
