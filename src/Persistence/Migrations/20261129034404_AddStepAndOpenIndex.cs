using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KbSync.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class AddStepAndOpenIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "step",
                table: "operations",
                type: "character varying(16)",
                maxLength: 16,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_operations_open_by_kb",
                table: "operations",
                columns: new[] { "kb_id", "requested_at", "id" },
                filter: "status IN ('queued', 'running')");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_operations_open_by_kb",
                table: "operations");

            migrationBuilder.DropColumn(
                name: "step",
                table: "operations");
        }
    }
}
