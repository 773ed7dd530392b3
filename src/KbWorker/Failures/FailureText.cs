namespace KbSync.KbWorker.Failures;

/// <summary>Exceptions as one line a user can read: the innermost message, with its type only when the message alone says too little.</summary>
public static class FailureText
{
    public static string Short(Exception error)
    {
        var root = error.GetBaseException();
        var message = root.Message.ReplaceLineEndings(" ").Trim();
        return message.Length >= 20 ? message : $"{root.GetType().Name}: {message}";
    }
}
