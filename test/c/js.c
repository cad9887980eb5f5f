/*
 * JetStream through libnats (cnats), run against tsnats by test/js_compat_c.test.ts.
 * Usage and output: see check.h.
 */
#include <string.h>

#include "check.h"

/* A failed call reports the status text and, when the server answered one, the JetStream code. */
#define CHECK(step, call)                                                              \
    do {                                                                               \
        natsStatus s_ = (call);                                                        \
        if (s_ != NATS_OK) {                                                           \
            char why_[256];                                                            \
            snprintf(why_, sizeof why_, "%s (err_code %d) %s", natsStatus_GetText(s_), \
                     (int)jerr, nats_GetLastError(NULL));                              \
            return failed(step, why_);                                                 \
        }                                                                              \
    } while (0)

static int run(const char *url) {
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsErrCode jerr = 0;
    jsStreamConfig cfg;
    jsStreamInfo *si = NULL;
    jsPubOptions po;
    jsPubAck *pa = NULL;
    natsSubscription *sub = NULL;
    natsMsgList list = {0};
    jsConsumerInfo *ci = NULL;
    kvConfig kvc;
    kvStore *kv = NULL;
    kvEntry *e = NULL;
    const char *subjects[] = {"corders.*"};
    uint64_t rev = 0;
    int i;

    CHECK("connect", natsConnection_ConnectTo(&nc, url));
    CHECK("jetstream", natsConnection_JetStream(&js, nc, NULL));
    printf("ok connect\n");

    /* js_AddStream */
    jsStreamConfig_Init(&cfg);
    cfg.Name = "CORDERS";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    CHECK("add stream", js_AddStream(&si, js, &cfg, NULL, &jerr));
    if (strcmp(si->Config->Name, "CORDERS") != 0 || si->Config->MaxMsgs != -1 || si->Config->Duplicates != 120000000000LL)
        return failed("add stream", "config not reported back with the server's defaults");
    jsStreamInfo_Destroy(si);
    si = NULL;
    /* Adding it again with a different config is refused with nats-server's code. */
    cfg.Subjects = NULL;
    cfg.SubjectsLen = 0;
    if (js_AddStream(&si, js, &cfg, NULL, &jerr) == NATS_OK || jerr != JSStreamNameExistErr)
        return failed("add stream", "a conflicting create was not refused with 10058");
    printf("ok addstream\n");

    /* js_Publish with a message id: the second publish is a duplicate. */
    jsPubOptions_Init(&po);
    po.MsgId = "order-1";
    CHECK("publish", js_Publish(&pa, js, "corders.new", "first", 5, &po, &jerr));
    if (pa->Sequence != 1 || pa->Duplicate || strcmp(pa->Stream, "CORDERS") != 0) return failed("publish", "unexpected ack");
    jsPubAck_Destroy(pa);
    pa = NULL;
    CHECK("publish dup", js_Publish(&pa, js, "corders.new", "first", 5, &po, &jerr));
    if (pa->Sequence != 1 || !pa->Duplicate) return failed("publish", "duplicate not detected");
    jsPubAck_Destroy(pa);
    pa = NULL;
    for (i = 2; i <= 5; i++) {
        char data[16];
        snprintf(data, sizeof data, "order-%d", i);
        CHECK("publish more", js_Publish(&pa, js, "corders.new", data, (int)strlen(data), NULL, &jerr));
        if (pa->Sequence != (uint64_t)i) return failed("publish", "sequence out of order");
        jsPubAck_Destroy(pa);
        pa = NULL;
    }
    /* Expected last sequence that does not match: nats-server's 10071. */
    jsPubOptions_Init(&po);
    po.ExpectLastSeq = 2;
    if (js_Publish(&pa, js, "corders.new", "x", 1, &po, &jerr) == NATS_OK || jerr != JSStreamWrongLastSequenceErr)
        return failed("publish", "wrong expected last sequence not refused with 10071");
    printf("ok publish\n");

    /* js_PullSubscribe + Fetch + ack */
    CHECK("pull subscribe", js_PullSubscribe(&sub, js, "corders.*", "cworker", NULL, NULL, &jerr));
    CHECK("fetch", natsSubscription_Fetch(&list, sub, 3, 5000, &jerr));
    if (list.Count != 3) return failed("fetch", "expected 3 messages");
    for (i = 0; i < list.Count; i++) {
        jsMsgMetaData *meta = NULL;
        CHECK("metadata", natsMsg_GetMetaData(&meta, list.Msgs[i]));
        if (meta->Sequence.Stream != (uint64_t)(i + 1) || meta->NumDelivered != 1 || strcmp(meta->Consumer, "cworker") != 0)
            return failed("fetch", "wrong metadata");
        jsMsgMetaData_Destroy(meta);
        CHECK("ack", natsMsg_AckSync(list.Msgs[i], NULL, &jerr));
    }
    natsMsgList_Destroy(&list);
    CHECK("fetch rest", natsSubscription_Fetch(&list, sub, 10, 1000, &jerr));
    if (list.Count != 2) return failed("fetch", "expected the remaining 2 messages");
    for (i = 0; i < list.Count; i++) CHECK("ack rest", natsMsg_AckSync(list.Msgs[i], NULL, &jerr));
    natsMsgList_Destroy(&list);
    CHECK("consumer info", js_GetConsumerInfo(&ci, js, "CORDERS", "cworker", NULL, &jerr));
    if (ci->Delivered.Stream != 5 || ci->AckFloor.Stream != 5 || ci->NumAckPending != 0 || ci->NumPending != 0)
        return failed("consumer info", "counters do not match the acks");
    jsConsumerInfo_Destroy(ci);
    ci = NULL;
    printf("ok pull\n");

    /* KeyValue */
    kvConfig_Init(&kvc);
    kvc.Bucket = "CCONF";
    kvc.History = 3;
    CHECK("kv create", js_CreateKeyValue(&kv, js, &kvc));
    CHECK("kv put", kvStore_PutString(&rev, kv, "color", "blue"));
    if (rev != 1) return failed("kv put", "first revision is not 1");
    CHECK("kv put 2", kvStore_PutString(&rev, kv, "color", "green"));
    CHECK("kv get", kvStore_Get(&e, kv, "color"));
    if (strcmp(kvEntry_ValueString(e), "green") != 0 || kvEntry_Revision(e) != 2) return failed("kv get", "wrong value or revision");
    kvEntry_Destroy(e);
    e = NULL;
    if (kvStore_Get(&e, kv, "missing") != NATS_NOT_FOUND) return failed("kv get", "missing key not reported as not found");
    printf("ok kv\n");

    kvStore_Destroy(kv);
    natsSubscription_Destroy(sub);
    CHECK("delete stream", js_DeleteStream(js, "CORDERS", NULL, &jerr));
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}
