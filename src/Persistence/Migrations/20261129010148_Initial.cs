using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KbSync.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "knowledge_bases",
                columns: table => new
                {
                    id = table.Column<string>(type: "character varying(40)", maxLength: 40, nullable: false),
                    remote_url = table.Column<string>(type: "text", nullable: true),
                    branch = table.Column<string>(type: "character varying(250)", maxLength: 250, nullable: false),
                    token_env = table.Column<string>(type: "character varying(250)", maxLength: 250, nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_knowledge_bases", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "operations",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    kb_id = table.Column<string>(type: "character varying(40)", maxLength: 40, nullable: false),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    requested_by = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    requested_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    queue_wait_ms = table.Column<double>(type: "double precision", nullable: true),
                    lock_wait_ms = table.Column<double>(type: "double precision", nullable: true),
                    pull_ms = table.Column<double>(type: "double precision", nullable: true),
                    process_ms = table.Column<double>(type: "double precision", nullable: true),
                    commit_ms = table.Column<double>(type: "double precision", nullable: true),
                    push_ms = table.Column<double>(type: "double precision", nullable: true),
                    title = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: true),
                    note_path = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: true),
                    commit_sha = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    error_code = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    error_message = table.Column<string>(type: "text", nullable: true),
                    worker_id = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: true),
                    attempts = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_operations", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_operations_kb_id_requested_at",
                table: "operations",
                columns: new[] { "kb_id", "requested_at" });

            migrationBuilder.CreateIndex(
                name: "ix_operations_requested_at",
                table: "operations",
                column: "requested_at");

            migrationBuilder.CreateIndex(
                name: "ix_operations_requested_by_requested_at",
                table: "operations",
                columns: new[] { "requested_by", "requested_at" });

            migrationBuilder.CreateIndex(
                name: "ix_operations_status_requested_at",
                table: "operations",
                columns: new[] { "status", "requested_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "knowledge_bases");

            migrationBuilder.DropTable(
                name: "operations");
        }
    }
}
