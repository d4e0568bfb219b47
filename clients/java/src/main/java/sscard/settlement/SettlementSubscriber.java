package sscard.settlement;

import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SchemaRegistryConfig;
import com.networknt.schema.SpecificationVersion;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/**
 * The blocklist of one Kafka cluster's settlement topic, in memory, that knows its age.
 *
 * <p>It bootstraps from the compacted topic (every partition from its beginning), keeping the
 * latest status per card number (the message key), then follows it. At least every {@code
 * confirmEvery} it asks the broker for each partition's end offset and confirms once it has read
 * up to it. {@link #isBlocked} throws {@link SubscriberStaleException} when the last confirmation
 * is older than {@code staleAfter}, or when its thread has stopped. Every message is checked
 * against the full JSON Schema of the contract; one that breaks it makes its card suspect
 * (blocked by default), never leaves the previous status.
 */
public final class SettlementSubscriber implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(SettlementSubscriber.class.getName());
    private static final long NEVER = Long.MIN_VALUE;

    /** What {@link #isBlocked} does for a suspect card. */
    public enum SuspectPolicy {
        /** Answer true: refuse settlement (the default). */
        BLOCK,
        /** Throw {@link CardSuspectException}: the caller decides. */
        THROW
    }

    /** The settings an integrator may change; every setter returns this. */
    public static final class Options {
        Duration staleAfter = Duration.ofSeconds(10);
        Duration confirmEvery = Duration.ofSeconds(1);
        Duration topicWait = Duration.ofSeconds(30);
        SuspectPolicy suspect = SuspectPolicy.BLOCK;
        String clientId = "settlement-subscriber-java";
        Properties consumerProperties = new Properties();
        Consumer<CardStatus> onChange;

        /** After this long without a confirmation, isBlocked throws (default 10 s). */
        public Options staleAfter(Duration value) {
            staleAfter = value;
            return this;
        }

        /** How often to ask for the end offsets (default 1 s; below staleAfter). */
        public Options confirmEvery(Duration value) {
            confirmEvery = value;
            return this;
        }

        /** How long to wait for the topic to exist at start (default 30 s). */
        public Options topicWait(Duration value) {
            topicWait = value;
            return this;
        }

        public Options suspect(SuspectPolicy value) {
            suspect = value;
            return this;
        }

        public Options clientId(String value) {
            clientId = value;
            return this;
        }

        /** Extra Kafka consumer settings (security, for one: see {@link KafkaSecurity}). */
        public Options consumerProperties(Properties value) {
            consumerProperties.putAll(value);
            return this;
        }

        /**
         * Called on the subscriber's thread for every change; an exception ends the thread (and
         * isBlocked throws from then on).
         */
        public Options onChange(Consumer<CardStatus> value) {
            onChange = value;
            return this;
        }
    }

    private record Entry(String status, String since, String reason) {}

    private final String topic;
    private final Options options;
    private final Schema schema;
    private final ObjectMapper mapper = new ObjectMapper();
    private final Properties consumerProperties = new Properties();
    private final Map<String, Entry> cards = new ConcurrentHashMap<>();
    private final CountDownLatch caughtUp = new CountDownLatch(1);
    private volatile long confirmedAtNanos = NEVER;
    private volatile boolean stopping;
    private volatile Throwable error;
    private volatile KafkaConsumer<byte[], byte[]> consumer;
    private Thread thread;
    private long messages;
    private long invalid;

    /**
     * @param bootstrapServers the Kafka cluster, {@code host:port[,host:port]}
     * @param topic the settlement topic ({@code <prefix>.settlement})
     * @param schemaJson the contract: {@code settlement-status.schema.json}'s text
     */
    public SettlementSubscriber(
            String bootstrapServers, String topic, String schemaJson, Options options) {
        this.topic = Objects.requireNonNull(topic, "topic");
        this.options = options;
        if (options.confirmEvery.isNegative()
                || options.confirmEvery.isZero()
                || options.confirmEvery.compareTo(options.staleAfter) >= 0) {
            throw new IllegalArgumentException("confirmEvery must be positive and below staleAfter");
        }
        SchemaRegistryConfig config =
                SchemaRegistryConfig.builder().formatAssertionsEnabled(true).build();
        this.schema =
                SchemaRegistry.withDefaultDialect(
                                SpecificationVersion.DRAFT_2020_12,
                                builder -> builder.schemaRegistryConfig(config))
                        .getSchema(schemaJson);
        consumerProperties.putAll(options.consumerProperties);
        consumerProperties.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        consumerProperties.put(ConsumerConfig.CLIENT_ID_CONFIG, options.clientId);
        consumerProperties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        consumerProperties.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "20");
        consumerProperties.put(
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        consumerProperties.put(
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                ByteArrayDeserializer.class.getName());
    }

    /** A subscriber whose Kafka security settings come from the environment. */
    public static SettlementSubscriber fromEnv(
            String bootstrapServers, String topic, Path schemaFile, Options options)
            throws IOException {
        options.consumerProperties(KafkaSecurity.fromEnv(System.getenv()));
        return new SettlementSubscriber(
                bootstrapServers, topic, Files.readString(schemaFile), options);
    }

    // ---- answers ----------------------------------------------------------------------------

    /** Seconds since it last confirmed having read every partition to its end (inf: never). */
    public double ageSeconds() {
        long confirmed = confirmedAtNanos;
        return confirmed == NEVER
                ? Double.POSITIVE_INFINITY
                : (System.nanoTime() - confirmed) / 1e9;
    }

    /** Why isBlocked would refuse now, or null. */
    public String refusal() {
        if (thread == null) {
            return "the subscriber was not started";
        }
        Throwable failed = error;
        if (failed != null) {
            return "the subscriber's thread failed: " + failed;
        }
        if (!thread.isAlive()) {
            return "the subscriber's thread has stopped";
        }
        double age = ageSeconds();
        double bound = options.staleAfter.toMillis() / 1000.0;
        if (age > bound) {
            return age == Double.POSITIVE_INFINITY
                    ? "not yet caught up with the topic"
                    : String.format(
                            "not confirmed up to date for %.1f s (bound %.1f s)", age, bound);
        }
        return null;
    }

    /**
     * Whether settlement on the card must be refused; a card never named is not blocked.
     *
     * @throws SubscriberStaleException when the subscriber is not fresh (see {@link #refusal})
     * @throws CardSuspectException for a suspect card, with {@link SuspectPolicy#THROW}
     */
    public boolean isBlocked(String cardNumber)
            throws SubscriberStaleException, CardSuspectException {
        String refusal = refusal();
        if (refusal != null) {
            throw new SubscriberStaleException(refusal, ageSeconds());
        }
        Entry entry = cards.get(cardNumber);
        if (entry == null) {
            return false;
        }
        if (CardStatus.SUSPECT.equals(entry.status) && options.suspect == SuspectPolicy.THROW) {
            throw new CardSuspectException(cardNumber + ": " + entry.reason);
        }
        return !CardStatus.ACTIVE.equals(entry.status);
    }

    /** The card's status and the subscriber's age; never throws. */
    public CardStatus status(String cardNumber) {
        Entry entry = cards.get(cardNumber);
        double age = ageSeconds();
        if (entry == null) {
            return new CardStatus(cardNumber, CardStatus.UNKNOWN, null, null, age);
        }
        return new CardStatus(cardNumber, entry.status, entry.since, entry.reason, age);
    }

    /** Cards held (suspect ones included). */
    public int size() {
        return cards.size();
    }

    public boolean running() {
        return thread != null && thread.isAlive();
    }

    /** Wait for the first confirmation; false on timeout. */
    public boolean awaitCaughtUp(Duration timeout) throws SubscriberStaleException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            try {
                if (caughtUp.await(50, TimeUnit.MILLISECONDS)) {
                    return true;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
            if (thread != null && !thread.isAlive()) {
                String why = refusal();
                throw new SubscriberStaleException(why == null ? "stopped" : why, ageSeconds());
            }
        }
        return caughtUp.getCount() == 0;
    }

    // ---- running ----------------------------------------------------------------------------

    /** Bootstrap and follow in a background (daemon) thread. */
    public synchronized SettlementSubscriber start() {
        if (thread != null) {
            throw new IllegalStateException("already started");
        }
        thread = new Thread(this::runSafely, "settlement-subscriber");
        thread.setDaemon(true);
        thread.start();
        return this;
    }

    @Override
    public void close() {
        stopping = true;
        KafkaConsumer<byte[], byte[]> current = consumer;
        if (current != null) {
            current.wakeup();
        }
        if (thread != null) {
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void runSafely() {
        try {
            run();
        } catch (Throwable failure) {
            error = failure;
            LOG.log(Level.SEVERE, "settlement subscriber stopped: " + failure, failure);
        }
    }

    private void run() {
        try (KafkaConsumer<byte[], byte[]> kafka = new KafkaConsumer<>(consumerProperties)) {
            consumer = kafka;
            List<TopicPartition> partitions = partitions(kafka);
            kafka.assign(partitions);
            kafka.seekToBeginning(partitions);
            follow(kafka, partitions);
        } catch (WakeupException stopped) {
            if (!stopping) {
                throw stopped;
            }
        }
    }

    private void follow(KafkaConsumer<byte[], byte[]> kafka, List<TopicPartition> partitions) {
        Map<TopicPartition, Long> targetEnds = null;
        long askedAt = 0;
        long nextCheck = System.nanoTime();
        long confirmEvery = options.confirmEvery.toNanos();
        while (!stopping) {
            try {
                for (ConsumerRecord<byte[], byte[]> record : kafka.poll(Duration.ofMillis(100))) {
                    take(record.key(), record.value(), record.timestamp());
                }
                long now = System.nanoTime();
                if (targetEnds == null && now - nextCheck >= 0) {
                    askedAt = now;
                    targetEnds = kafka.endOffsets(partitions, Duration.ofSeconds(5));
                    nextCheck = now + confirmEvery;
                }
                if (targetEnds != null && reached(kafka, targetEnds)) {
                    confirmedAtNanos = askedAt;
                    targetEnds = null;
                    caughtUp.countDown();
                }
            } catch (RetriableException unreachable) {
                // The broker is unreachable or slow: keep trying; isBlocked refuses once the last
                // confirmation is older than the bound.
                LOG.warning("settlement subscriber: " + unreachable + "; retrying");
                targetEnds = null;
                sleep(500);
            }
        }
    }

    private static boolean reached(
            KafkaConsumer<byte[], byte[]> kafka, Map<TopicPartition, Long> ends) {
        for (Map.Entry<TopicPartition, Long> end : ends.entrySet()) {
            if (kafka.position(end.getKey(), Duration.ofSeconds(5)) < end.getValue()) {
                return false;
            }
        }
        return true;
    }

    private List<TopicPartition> partitions(KafkaConsumer<byte[], byte[]> kafka) {
        long deadline = System.nanoTime() + options.topicWait.toNanos();
        while (true) {
            List<PartitionInfo> found = null;
            try {
                found = kafka.partitionsFor(topic, Duration.ofSeconds(5));
            } catch (RetriableException notYet) {
                // the topic may be on its way, or the broker starting
            }
            if (found != null && !found.isEmpty()) {
                List<TopicPartition> partitions = new ArrayList<>();
                for (PartitionInfo info : found) {
                    partitions.add(new TopicPartition(topic, info.partition()));
                }
                partitions.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
                return partitions;
            }
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("topic " + topic + " not found");
            }
            sleep(200);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- messages ---------------------------------------------------------------------------

    void take(byte[] key, byte[] value, long timestampMs) {
        messages++;
        String named = key == null ? null : new String(key, StandardCharsets.UTF_8);
        if (value == null) { // a tombstone: the card is gone from the topic
            if (named != null) {
                cards.remove(named);
            }
            return;
        }
        JsonNode message;
        try {
            message = mapper.readTree(value);
        } catch (JacksonException notJson) {
            breach(named, null, "not JSON", timestampMs);
            return;
        }
        List<Error> errors = schema.validate(message);
        String problem = errors.isEmpty() ? null : errors.get(0).toString();
        String card = message.path("card_number").asString("");
        if (problem == null && named != null && !named.equals(card)) {
            problem = "key '" + named + "' is not the card number '" + card + "'";
        }
        if (problem != null) {
            breach(named, message, problem, timestampMs);
            return;
        }
        Entry entry =
                new Entry(
                        message.get("status").asString(),
                        message.get("since").asString(),
                        message.get("reason").asString());
        cards.put(card, entry);
        changed(card, entry);
    }

    private void breach(String named, JsonNode message, String problem, long timestampMs) {
        invalid++;
        List<String> namedCards = new ArrayList<>();
        if (named != null) {
            namedCards.add(named);
        }
        if (message != null && message.path("card_number").isString()) {
            String card = message.path("card_number").asString();
            if (!namedCards.contains(card)) {
                namedCards.add(card);
            }
        }
        LOG.warning("settlement message breaks the contract (" + problem + "): " + namedCards);
        String seen = (timestampMs >= 0 ? Instant.ofEpochMilli(timestampMs) : Instant.now()).toString();
        for (String card : namedCards) {
            Entry entry = new Entry(CardStatus.SUSPECT, seen, problem);
            cards.put(card, entry);
            changed(card, entry);
        }
    }

    private void changed(String card, Entry entry) {
        Consumer<CardStatus> onChange = options.onChange;
        if (onChange != null) {
            onChange.accept(new CardStatus(card, entry.status, entry.since, entry.reason, 0.0));
        }
    }

    /** Messages read, and those that broke the contract (read on the subscriber's thread). */
    public long messages() {
        return messages;
    }

    public long invalid() {
        return invalid;
    }
}
