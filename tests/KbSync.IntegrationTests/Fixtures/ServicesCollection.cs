namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// All integration tests share one RabbitMQ and one PostgreSQL fixture and run one class at a
/// time: they start real worker processes, and two cores are all a CI machine has.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ServicesCollection : ICollectionFixture<RabbitMqService>, ICollectionFixture<PostgresService>
{
    public const string Name = "real services";
}
