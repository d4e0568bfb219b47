package sscard.settlement;

/**
 * The card's latest message broke the published contract; thrown only with {@link
 * SettlementSubscriber.SuspectPolicy#THROW} (by default such a card is blocked).
 */
public final class CardSuspectException extends Exception {
    public CardSuspectException(String message) {
        super(message);
    }
}
