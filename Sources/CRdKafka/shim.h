// The only C surface Redress uses: librdkafka's client API and its in-process mock cluster.
// Debian ships both headers in librdkafka-dev.
#pragma once
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
