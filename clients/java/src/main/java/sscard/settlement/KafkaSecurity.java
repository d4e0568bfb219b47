package sscard.settlement;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * The Kafka client's security settings from the environment, the same variables as every sscard
 * client: {@code KAFKA_SECURITY_PROTOCOL} (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL; default
 * PLAINTEXT), {@code KAFKA_SASL_MECHANISM} (SCRAM-SHA-256 or SCRAM-SHA-512), {@code
 * KAFKA_SASL_USERNAME}, {@code KAFKA_SASL_PASSWORD} and {@code KAFKA_SSL_CAFILE} (a PEM file of
 * the CA, read as a PEM trust store).
 */
public final class KafkaSecurity {
    static final List<String> PROTOCOLS = List.of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL");
    static final List<String> MECHANISMS = List.of("SCRAM-SHA-256", "SCRAM-SHA-512");

    private KafkaSecurity() {}

    /**
     * @throws IllegalArgumentException naming the variable, on a bad value
     */
    public static Properties fromEnv(Map<String, String> env) {
        String protocol = env.getOrDefault("KAFKA_SECURITY_PROTOCOL", "");
        if (protocol.isEmpty()) {
            protocol = "PLAINTEXT";
        }
        if (!PROTOCOLS.contains(protocol)) {
            throw new IllegalArgumentException(
                    "KAFKA_SECURITY_PROTOCOL='" + protocol + "': one of " + PROTOCOLS);
        }
        Properties properties = new Properties();
        properties.put("security.protocol", protocol);
        if (protocol.startsWith("SASL_")) {
            String mechanism = env.getOrDefault("KAFKA_SASL_MECHANISM", "");
            if (mechanism.isEmpty()) {
                mechanism = MECHANISMS.get(0);
            }
            if (!MECHANISMS.contains(mechanism)) {
                throw new IllegalArgumentException(
                        "KAFKA_SASL_MECHANISM='" + mechanism + "': one of " + MECHANISMS);
            }
            String username = env.getOrDefault("KAFKA_SASL_USERNAME", "");
            String password = env.getOrDefault("KAFKA_SASL_PASSWORD", "");
            if (username.isEmpty() || password.isEmpty()) {
                throw new IllegalArgumentException(
                        protocol + " needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD");
            }
            properties.put("sasl.mechanism", mechanism);
            properties.put(
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                            + jaasQuoted(username)
                            + "\" password=\""
                            + jaasQuoted(password)
                            + "\";");
        }
        String cafile = env.getOrDefault("KAFKA_SSL_CAFILE", "");
        if (protocol.endsWith("SSL") && !cafile.isEmpty()) {
            if (!Files.isRegularFile(Path.of(cafile))) {
                throw new IllegalArgumentException("KAFKA_SSL_CAFILE='" + cafile + "': no such file");
            }
            properties.put("ssl.truststore.type", "PEM");
            properties.put("ssl.truststore.location", cafile);
        }
        return properties;
    }

    private static String jaasQuoted(String text) {
        return text.replace("\\", "\\\\").replace("\"", "\\\"");
    }
}
