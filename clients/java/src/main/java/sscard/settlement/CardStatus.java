package sscard.settlement;

/**
 * One card's answer.
 *
 * @param cardNumber the card number
 * @param status {@code active}, {@code blocked}, {@code cancelled}, {@code unknown} (the topic
 *     never named it) or {@code suspect} (its latest message broke the contract)
 * @param since when the status began (UTC, ISO 8601); for a suspect card, when the message was
 *     written; null for an unknown card
 * @param reason why (a settlement reason of the contract); for a suspect card, what broke
 * @param ageSeconds seconds since the subscriber last confirmed having read the whole topic
 *     ({@code Double.POSITIVE_INFINITY}: never)
 */
public record CardStatus(
        String cardNumber, String status, String since, String reason, double ageSeconds) {

    public static final String ACTIVE = "active";
    public static final String UNKNOWN = "unknown";
    public static final String SUSPECT = "suspect";

    /** Whether settlement must be refused: every status but active and unknown. */
    public boolean blocked() {
        return !ACTIVE.equals(status) && !UNKNOWN.equals(status);
    }
}
