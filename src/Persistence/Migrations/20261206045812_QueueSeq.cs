using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KbSync.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class QueueSeq : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateSequence(
                name: "operation_queue_seq");

            migrationBuilder.AddColumn<long>(
                name: "queue_seq",
                table: "operations",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "queued_message_id",
                table: "operations",
                type: "character varying(100)",
                maxLength: 100,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_operations_open_by_seq",
                table: "operations",
                columns: new[] { "kb_id", "queue_seq" },
                filter: "status IN ('queued', 'running')");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_operations_open_by_seq",
                table: "operations");

            migrationBuilder.DropColumn(
                name: "queue_seq",
                table: "operations");

            migrationBuilder.DropColumn(
                name: "queued_message_id",
                table: "operations");

            migrationBuilder.DropSequence(
                name: "operation_queue_seq");
        }
    }
}
