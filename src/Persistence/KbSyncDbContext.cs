using KbSync.Contracts;
using KbSync.Persistence.Entities;
using KbSync.Persistence.History;
using Microsoft.EntityFrameworkCore;

namespace KbSync.Persistence;

public sealed class KbSyncDbContext(DbContextOptions<KbSyncDbContext> options) : DbContext(options)
{
    public DbSet<OperationRecord> Operations => Set<OperationRecord>();
    public DbSet<KnowledgeBaseRecord> KnowledgeBases => Set<KnowledgeBaseRecord>();
    public DbSet<PartitionPauseRecord> PartitionPauses => Set<PartitionPauseRecord>();
    public DbSet<PartitionLayoutRecord> PartitionLayouts => Set<PartitionLayoutRecord>();
    public DbSet<PartitionDrainRecord> PartitionDrains => Set<PartitionDrainRecord>();
    public DbSet<PrincipalRecord> Principals => Set<PrincipalRecord>();
    public DbSet<ApiTokenRecord> ApiTokens => Set<ApiTokenRecord>();
    public DbSet<KbGrantRecord> KbGrants => Set<KbGrantRecord>();
    public DbSet<OperationRollupRecord> OperationRollups => Set<OperationRollupRecord>();
    public DbSet<RequesterRollupRecord> RequesterRollups => Set<RequesterRollupRecord>();
    public DbSet<RequesterWaitsRecord> RequesterWaits => Set<RequesterWaitsRecord>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.HasSequence<long>(QueueArrivals.Sequence);
        modelBuilder.Entity<OperationRecord>(op =>
        {
            op.ToTable("operations");
            op.HasKey(o => o.Id);
            op.Property(o => o.KbId).HasMaxLength(KbIds.MaxLength);
            op.Property(o => o.Kind).HasConversion(k => k.ToWireName(), s => ParseKind(s)).HasMaxLength(OperationColumns.Kind);
            op.Property(o => o.Status).HasConversion(s => s.ToWireName(), s => ParseStatus(s)).HasMaxLength(OperationColumns.Status);
            op.Property(o => o.RequestedBy).HasMaxLength(OperationColumns.RequestedBy);
            op.Property(o => o.Principal).HasMaxLength(Identity.IdentityStore.MaxNameLength);
            op.Property(o => o.Title).HasMaxLength(OperationColumns.Title);
            op.Property(o => o.NotePath).HasMaxLength(OperationColumns.NotePath);
            op.Property(o => o.CommitSha).HasMaxLength(OperationColumns.CommitSha);
            op.Property(o => o.ErrorCode).HasMaxLength(OperationColumns.ErrorCode);
            op.Property(o => o.WorkerId).HasMaxLength(OperationColumns.WorkerId);
            op.Property(o => o.ResultJson).HasColumnName("result").HasColumnType("jsonb");
            // history by KB and time; the INCLUDE columns make the analytics' range scans index-only
            op.HasIndex(o => new { o.KbId, o.RequestedAt }).IncludeProperties(o => new
            {
                o.Status, o.StartedAt, o.FinishedAt, o.QueueWaitMs, o.LockWaitMs, o.PullMs, o.ProcessMs, o.CommitMs, o.PushMs, o.RequestedBy,
            });
            op.HasIndex(o => o.RequestedAt).IncludeProperties(o => new
            {
                o.Status, o.StartedAt, o.FinishedAt, o.QueueWaitMs, o.LockWaitMs, o.PullMs, o.ProcessMs, o.CommitMs, o.PushMs, o.RequestedBy,
            });
            op.HasIndex(o => new { o.RequestedBy, o.RequestedAt });
            op.HasIndex(o => new { o.Status, o.RequestedAt });
            // analytics: queue exits (queue depth) and operations finished per bucket (throughput)
            op.HasIndex(o => new { o.KbId, o.StartedAt }).IncludeProperties(o => new { o.RequestedAt });
            op.HasIndex(o => o.StartedAt).IncludeProperties(o => new { o.RequestedAt });
            op.HasIndex(o => new { o.KbId, o.FinishedAt }).IncludeProperties(o => new { o.Status });
            op.HasIndex(o => o.FinishedAt).IncludeProperties(o => new { o.Status });
            op.Property(o => o.Step).HasMaxLength(OperationColumns.Step);
            // what is waiting or running, per KB, in order: queue positions and live queue depth
            op.HasIndex(o => new { o.KbId, o.RequestedAt, o.Id }).HasDatabaseName("ix_operations_open_by_kb").HasFilter("status IN ('queued', 'running')");
            // queue positions: the open operations of a partition's KBs ahead in the broker's order
            op.HasIndex(o => new { o.KbId, o.QueueSeq }).HasDatabaseName("ix_operations_open_by_seq").HasFilter("status IN ('queued', 'running')");
            op.Property(o => o.QueuedMessageId).HasMaxLength(OperationColumns.MessageId);
        });

        // statistics' rollups: written by triggers on operations (AddRollups migration), read by Analytics/Rollups
        modelBuilder.Entity<OperationRollupRecord>(rollup =>
        {
            rollup.ToTable("operation_rollups");
            rollup.HasKey(r => new { r.KbId, r.GrainSeconds, r.BucketStart });
            rollup.Property(r => r.KbId).HasMaxLength(KbIds.MaxLength);
        });

        modelBuilder.Entity<RequesterRollupRecord>(rollup =>
        {
            rollup.ToTable("requester_rollups");
            rollup.HasKey(r => new { r.KbId, r.GrainSeconds, r.BucketStart });
            rollup.Property(r => r.KbId).HasMaxLength(KbIds.MaxLength);
        });

        modelBuilder.Entity<RequesterWaitsRecord>(waits =>
        {
            waits.ToTable("requester_waits");
            waits.HasKey(w => new { w.KbId, w.GrainSeconds, w.RequestedBy, w.BucketStart });
            waits.Property(w => w.KbId).HasMaxLength(KbIds.MaxLength);
        });

        modelBuilder.Entity<PartitionPauseRecord>(pause =>
        {
            pause.ToTable("partition_pauses");
            pause.HasKey(p => p.Partition);
            pause.Property(p => p.Partition).ValueGeneratedNever();
            pause.Property(p => p.WorkerId).HasMaxLength(OperationColumns.WorkerId);
            pause.Property(p => p.KbId).HasMaxLength(KbIds.MaxLength);
            pause.Property(p => p.Reason).HasMaxLength(Partitions.PartitionPauses.MaxReasonLength);
        });

        modelBuilder.Entity<PartitionLayoutRecord>(layout =>
        {
            layout.ToTable("partition_layouts");
            layout.HasKey(l => l.Epoch);
            layout.Property(l => l.Epoch).ValueGeneratedNever();
        });

        modelBuilder.Entity<PartitionDrainRecord>(drain =>
        {
            drain.ToTable("partition_drains");
            drain.HasKey(d => new { d.Epoch, d.Partition });
            drain.Property(d => d.WorkerId).HasMaxLength(OperationColumns.WorkerId);
        });

        modelBuilder.Entity<PrincipalRecord>(principal =>
        {
            principal.ToTable("principals");
            principal.HasKey(p => p.Id);
            principal.Property(p => p.Name).HasMaxLength(Identity.IdentityStore.MaxNameLength);
            principal.HasIndex(p => p.Name).IsUnique();
            principal.Property(p => p.Email).HasMaxLength(254);
            principal.Property(p => p.Role).HasMaxLength(16);
            principal.Property(p => p.BrokerUser).HasMaxLength(128);
            principal.HasIndex(p => p.BrokerUser).IsUnique();
        });

        modelBuilder.Entity<ApiTokenRecord>(token =>
        {
            token.ToTable("api_tokens");
            token.HasKey(t => t.Id);
            token.Property(t => t.Label).HasMaxLength(100);
            token.HasIndex(t => t.Hash).IsUnique();
            token.HasOne<PrincipalRecord>().WithMany().HasForeignKey(t => t.PrincipalId);
        });

        modelBuilder.Entity<KbGrantRecord>(grant =>
        {
            grant.ToTable("kb_grants");
            grant.HasKey(g => new { g.KbId, g.PrincipalId, g.Right });
            grant.Property(g => g.KbId).HasMaxLength(KbIds.MaxLength);
            grant.Property(g => g.Right).HasMaxLength(16);
            grant.HasIndex(g => g.PrincipalId);
            grant.HasOne<PrincipalRecord>().WithMany().HasForeignKey(g => g.PrincipalId);
        });

        modelBuilder.Entity<KnowledgeBaseRecord>(kb =>
        {
            kb.ToTable("knowledge_bases");
            kb.HasKey(k => k.Id);
            kb.Property(k => k.Id).HasMaxLength(KbIds.MaxLength);
            kb.Property(k => k.Branch).HasMaxLength(250);
            kb.Property(k => k.TokenEnv).HasMaxLength(250);
        });
    }

    private static OperationKind ParseKind(string name) =>
        Enum.GetValues<OperationKind>().Single(k => k.ToWireName() == name);

    private static OperationStatus ParseStatus(string name) =>
        OperationEnumNames.TryParseStatus(name, out var status) ? status : throw new InvalidOperationException($"Unknown status '{name}' in the database.");
}
