package sscard.settlement;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A smoke run of the client, and the line protocol the sscard test suite drives it with.
 *
 * <pre>
 * java -cp settlement-client.jar:$(cat target/classpath.txt) sscard.settlement.Main \
 *     BOOTSTRAP SCHEMA.json TOPIC [--stale-after-ms N] [--confirm-every-ms N] [--fail-on CARD]
 * </pre>
 *
 * <p>It prints {@code caught-up cards=N} once bootstrapped and {@code change CARD STATUS} for
 * every change; then it answers lines on standard input: {@code blocked CARD} (answers {@code
 * blocked CARD true|false}, {@code stale CARD <why>} or {@code suspect CARD <what broke>}),
 * {@code status CARD} ({@code status CARD STATUS age_ms=N}, -1: never confirmed) and {@code
 * quit}. {@code --fail-on CARD} makes the change callback throw for that card, to see the
 * client refuse once its thread has died. Exit 2: bad arguments or settings; 3: not caught up.
 */
public final class Main {
    private static final String USAGE =
            "usage: Main BOOTSTRAP SCHEMA.json TOPIC [--stale-after-ms N] [--confirm-every-ms N]"
                    + " [--fail-on CARD]";

    private Main() {}

    public static void main(String[] args) throws IOException {
        System.exit(run(args));
    }

    static int run(String[] args) throws IOException {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (args.length < 3 || args.length % 2 == 0 || args[0].startsWith("-")) {
            System.err.println(USAGE);
            return 2;
        }
        SettlementSubscriber.Options options = new SettlementSubscriber.Options();
        String failOn = null;
        try {
            for (int i = 3; i < args.length; i += 2) {
                switch (args[i]) {
                    case "--stale-after-ms" -> options.staleAfter(
                            Duration.ofMillis(Long.parseLong(args[i + 1])));
                    case "--confirm-every-ms" -> options.confirmEvery(
                            Duration.ofMillis(Long.parseLong(args[i + 1])));
                    case "--fail-on" -> failOn = args[i + 1];
                    default -> throw new IllegalArgumentException("unknown option " + args[i]);
                }
            }
        } catch (IllegalArgumentException bad) {
            System.err.println("settlement client: " + bad.getMessage() + "; " + USAGE);
            return 2;
        }
        String fail = failOn;
        options.onChange(
                card -> {
                    if (card.cardNumber().equals(fail)) {
                        throw new IllegalStateException("a bug in the change callback");
                    }
                    out.println("change " + card.cardNumber() + " " + card.status());
                });
        SettlementSubscriber subscriber;
        try {
            subscriber = SettlementSubscriber.fromEnv(args[0], args[2], Path.of(args[1]), options);
        } catch (IOException | RuntimeException bad) {
            System.err.println("settlement client: " + bad.getMessage());
            return 2;
        }
        try (subscriber) {
            subscriber.start();
            if (!subscriber.awaitCaughtUp(Duration.ofSeconds(120))) {
                System.err.println("settlement client: not caught up with " + args[2] + " in 120 s");
                return 3;
            }
            out.println("caught-up cards=" + subscriber.size());
            BufferedReader in =
                    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                String[] words = line.trim().split("\\s+");
                if (words[0].equals("quit")) {
                    break;
                }
                out.println(answer(subscriber, words));
            }
        } catch (SubscriberStaleException failed) {
            System.err.println("settlement client: " + failed.getMessage());
            return 3;
        }
        return 0;
    }

    private static String answer(SettlementSubscriber subscriber, String[] words) {
        if (words.length != 2) {
            return "error expected: blocked CARD | status CARD | quit";
        }
        String card = words[1];
        switch (words[0]) {
            case "blocked":
                try {
                    return "blocked " + card + " " + subscriber.isBlocked(card);
                } catch (SubscriberStaleException stale) {
                    return "stale " + card + " " + stale.getMessage();
                } catch (CardSuspectException suspect) {
                    return "suspect " + card + " " + suspect.getMessage();
                }
            case "status":
                CardStatus status = subscriber.status(card);
                double age = status.ageSeconds();
                long ageMs = Double.isInfinite(age) ? -1 : Math.round(age * 1000);
                return "status " + card + " " + status.status() + " age_ms=" + ageMs;
            default:
                return "error expected: blocked CARD | status CARD | quit";
        }
    }
}
