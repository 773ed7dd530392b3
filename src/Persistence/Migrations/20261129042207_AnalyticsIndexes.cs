using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KbSync.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class AnalyticsIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_operations_kb_id_requested_at",
                table: "operations");

            migrationBuilder.DropIndex(
                name: "ix_operations_requested_at",
                table: "operations");

            migrationBuilder.CreateIndex(
                name: "ix_operations_finished_at",
                table: "operations",
                column: "finished_at")
                .Annotation("Npgsql:IndexInclude", new[] { "status" });

            migrationBuilder.CreateIndex(
                name: "ix_operations_kb_id_finished_at",
                table: "operations",
                columns: new[] { "kb_id", "finished_at" })
                .Annotation("Npgsql:IndexInclude", new[] { "status" });

            migrationBuilder.CreateIndex(
                name: "ix_operations_kb_id_requested_at",
                table: "operations",
                columns: new[] { "kb_id", "requested_at" })
                .Annotation("Npgsql:IndexInclude", new[] { "status", "started_at", "finished_at", "queue_wait_ms", "lock_wait_ms", "pull_ms", "process_ms", "commit_ms", "push_ms", "requested_by" });

            migrationBuilder.CreateIndex(
                name: "ix_operations_kb_id_started_at",
                table: "operations",
                columns: new[] { "kb_id", "started_at" })
                .Annotation("Npgsql:IndexInclude", new[] { "requested_at" });

            migrationBuilder.CreateIndex(
                name: "ix_operations_requested_at",
                table: "operations",
                column: "requested_at")
                .Annotation("Npgsql:IndexInclude", new[] { "status", "started_at", "finished_at", "queue_wait_ms", "lock_wait_ms", "pull_ms", "process_ms", "commit_ms", "push_ms", "requested_by" });

            migrationBuilder.CreateIndex(
                name: "ix_operations_started_at",
                table: "operations",
                column: "started_at")
                .Annotation("Npgsql:IndexInclude", new[] { "requested_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_operations_finished_at",
                table: "operations");

            migrationBuilder.DropIndex(
                name: "ix_operations_kb_id_finished_at",
                table: "operations");

            migrationBuilder.DropIndex(
                name: "ix_operations_kb_id_requested_at",
                table: "operations");

            migrationBuilder.DropIndex(
                name: "ix_operations_kb_id_started_at",
                table: "operations");

            migrationBuilder.DropIndex(
                name: "ix_operations_requested_at",
                table: "operations");

            migrationBuilder.DropIndex(
                name: "ix_operations_started_at",
                table: "operations");

            migrationBuilder.CreateIndex(
                name: "ix_operations_kb_id_requested_at",
                table: "operations",
                columns: new[] { "kb_id", "requested_at" });

            migrationBuilder.CreateIndex(
                name: "ix_operations_requested_at",
                table: "operations",
                column: "requested_at");
        }
    }
}
