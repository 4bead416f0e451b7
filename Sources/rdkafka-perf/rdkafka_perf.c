/*
 * rdkafka-perf: the plain-C yardstick for the Swift wrapper's benchmark.
 *
 * It runs exactly the protocol redress-kafka-benchmark runs through the Swift wrapper, with
 * librdkafka's C API and nothing else: one idempotent acks=all producer and one group consumer on
 * the same cluster; after a warm-up message (so the consumer owns its partitions), ROUNDS times:
 * produce N messages of SIZE bytes and wait for every delivery report, then consume those N.
 * Rounds keep each partition under the embedded cluster's ~5 MiB retention.
 *
 * Usage: rdkafka-perf BOOTSTRAP TOPIC MESSAGES_PER_ROUND ROUNDS SIZE
 * Each consumed message is surfaced as the Swift wrapper surfaces it: key and value copied out of
 * librdkafka, headers, timestamp and topic name read.
 * Prints: RESULT messages=<n> produce_seconds=<s> consume_seconds=<s> delivery_failures=<n> checksum=<sum>
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long delivered = 0;
static long failed = 0;
/* Sum of the last byte of every consumed value: printed so the copies are not optimised away. */
static unsigned long checksum = 0;

static double now_seconds(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
        (void)rk;
        (void)opaque;
        if (message->err)
                failed++;
        else
                delivered++;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
        char error[512];
        if (rd_kafka_conf_set(conf, key, value, error, sizeof(error)) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "rdkafka-perf: %s: %s\n", key, error);
                exit(2);
        }
}

static void produce_one(rd_kafka_t *producer, const char *topic, const char *key, const char *value, size_t size) {
        for (;;) {
                rd_kafka_resp_err_t err = rd_kafka_producev(
                    producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, size), RD_KAFKA_V_END);
                if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                        break;
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        fprintf(stderr, "rdkafka-perf: produce: %s\n", rd_kafka_err2str(err));
                        exit(1);
                }
                rd_kafka_poll(producer, 1);
        }
        rd_kafka_poll(producer, 0);
}

static long consume(rd_kafka_t *consumer, long wanted, int timeout_seconds) {
        long received = 0;
        double deadline = now_seconds() + timeout_seconds;
        while (received < wanted && now_seconds() < deadline) {
                rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 100);
                if (!message)
                        continue;
                if (!message->err) {
                        /* Surface what the Swift wrapper surfaces for every message: the key and
                         * value copied out of librdkafka (an application that keeps a message past
                         * the poll must copy), its headers, timestamp and topic name. */
                        unsigned char *copy = malloc(message->key_len + message->len);
                        memcpy(copy, message->key, message->key_len);
                        memcpy(copy + message->key_len, message->payload, message->len);
                        checksum += copy[message->key_len + message->len - 1];
                        rd_kafka_headers_t *headers = NULL;
                        if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR)
                                checksum += rd_kafka_header_cnt(headers);
                        rd_kafka_timestamp_type_t timestamp_type;
                        checksum += (unsigned long)(rd_kafka_message_timestamp(message, &timestamp_type) & 1);
                        checksum += (unsigned long)rd_kafka_topic_name(message->rkt)[0];
                        free(copy);
                        received++;
                }
                rd_kafka_message_destroy(message);
        }
        return received;
}

int main(int argc, char **argv) {
        if (argc != 6) {
                fprintf(stderr, "usage: %s BOOTSTRAP TOPIC MESSAGES_PER_ROUND ROUNDS SIZE\n", argv[0]);
                return 2;
        }
        const char *bootstrap = argv[1];
        const char *topic = argv[2];
        long per_round = atol(argv[3]);
        int rounds = atoi(argv[4]);
        size_t size = (size_t)atol(argv[5]);
        char error[512];

        rd_kafka_conf_t *pconf = rd_kafka_conf_new();
        set(pconf, "bootstrap.servers", bootstrap);
        set(pconf, "acks", "all");
        set(pconf, "enable.idempotence", "true");
        set(pconf, "linger.ms", "5");
        rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
        rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, error, sizeof(error));
        if (!producer) {
                fprintf(stderr, "rdkafka-perf: producer: %s\n", error);
                return 1;
        }

        char group[256];
        snprintf(group, sizeof(group), "rdkafka-perf-%s", topic);
        rd_kafka_conf_t *cconf = rd_kafka_conf_new();
        set(cconf, "bootstrap.servers", bootstrap);
        set(cconf, "group.id", group);
        set(cconf, "auto.offset.reset", "earliest");
        set(cconf, "enable.auto.commit", "false");
        set(cconf, "enable.auto.offset.store", "false");
        set(cconf, "enable.partition.eof", "false");
        set(cconf, "fetch.wait.max.ms", "10");
        rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, error, sizeof(error));
        if (!consumer) {
                fprintf(stderr, "rdkafka-perf: consumer: %s\n", error);
                return 1;
        }
        rd_kafka_poll_set_consumer(consumer);
        rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(consumer, topics);
        rd_kafka_topic_partition_list_destroy(topics);

        char *value = malloc(size);
        for (size_t i = 0; i < size; i++)
                value[i] = (char)('a' + (i % 26));
        char key[64];

        /* Warm-up: the consumer joins its group and owns its partitions before anything is timed. */
        produce_one(producer, topic, "warm-up", value, size);
        rd_kafka_flush(producer, 30000);
        if (consume(consumer, 1, 60) != 1) {
                fprintf(stderr, "rdkafka-perf: warm-up message not received\n");
                return 1;
        }

        double produce_seconds = 0, consume_seconds = 0;
        long consumed = 0;
        for (int round = 0; round < rounds; round++) {
                long before = delivered + failed;
                double start = now_seconds();
                for (long i = 0; i < per_round; i++) {
                        snprintf(key, sizeof(key), "key-%ld", i);
                        produce_one(producer, topic, key, value, size);
                }
                while (delivered + failed - before < per_round)
                        rd_kafka_poll(producer, 1);
                produce_seconds += now_seconds() - start;

                start = now_seconds();
                long got = consume(consumer, per_round, 60);
                consume_seconds += now_seconds() - start;
                consumed += got;
                if (got != per_round) {
                        fprintf(stderr, "rdkafka-perf: round %d: consumed %ld of %ld\n", round, got, per_round);
                        return 1;
                }
        }
        printf("RESULT messages=%ld produce_seconds=%.6f consume_seconds=%.6f delivery_failures=%ld checksum=%lu\n",
               consumed, produce_seconds, consume_seconds, failed, checksum);
        fflush(stdout);

        free(value);
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
        rd_kafka_flush(producer, 10000);
        rd_kafka_destroy(producer);
        return failed == 0 ? 0 : 1;
}
