package sscard.settlement;

/**
 * {@link SettlementSubscriber#isBlocked} refuses to answer: the subscriber has not confirmed
 * within its bound that it has read the settlement topic to its end, or its thread has stopped.
 * Refuse the card, or ask the back office's HTTP lookup; never treat it as "not blocked".
 */
public final class SubscriberStaleException extends Exception {
    private final double ageSeconds;

    public SubscriberStaleException(String reason, double ageSeconds) {
        super(reason);
        this.ageSeconds = ageSeconds;
    }

    /** Seconds since the last confirmation ({@code Double.POSITIVE_INFINITY}: never). */
    public double ageSeconds() {
        return ageSeconds;
    }
}
