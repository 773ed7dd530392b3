namespace KbSync.KbWorker.Failures;

/// <summary>
/// A failure caused by the request or by the KB it names (its content, its remote): it fails that
/// operation alone, with a stable <see cref="ReasonCode"/> (one of <c>ReasonCodes</c>) and a message
/// the requester can act on, and the partition goes on at once. Anything else that escapes an
/// operation is a fault of KbSync or of a service it depends on (see <c>FailureClassifier</c>).
/// </summary>
public class OperationFailure(string reasonCode, string message, Exception? inner = null) : Exception(message, inner)
{
    public string ReasonCode { get; } = reasonCode;
}
