import CRdKafka

/// Builds librdkafka configuration objects from plain string properties.
enum RDKafkaConfig {
    /// Creates an `rd_kafka_conf_t` holding `properties`.
    ///
    /// The caller owns the returned object until it is handed to `rd_kafka_new`, which takes ownership
    /// only on success.
    /// - Throws: A ``KafkaError`` with code `.configuration` naming the property librdkafka refused.
    static func make(_ properties: [String: String]) throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError.configuration(reason: "rd_kafka_conf_new returned NULL")
        }
        // Sorted so that a refused property is reported deterministically.
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            var errorBuffer = [CChar](repeating: 0, count: 512)
            let result = rd_kafka_conf_set(conf, key, value, &errorBuffer, errorBuffer.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                let message = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw KafkaError.configuration(reason: "property \(key): \(message)")
            }
        }
        return conf
    }
}

extension String {
    /// Reads a NUL-terminated C string out of an error buffer librdkafka filled in.
    init(errorBuffer: [CChar]) {
        self = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
