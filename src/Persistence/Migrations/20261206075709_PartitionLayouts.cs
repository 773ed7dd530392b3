using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KbSync.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class PartitionLayouts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "partition_drains",
                columns: table => new
                {
                    epoch = table.Column<int>(type: "integer", nullable: false),
                    partition = table.Column<int>(type: "integer", nullable: false),
                    drained_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    worker_id = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_partition_drains", x => new { x.epoch, x.partition });
                });

            migrationBuilder.CreateTable(
                name: "partition_layouts",
                columns: table => new
                {
                    epoch = table.Column<int>(type: "integer", nullable: false),
                    partitions = table.Column<int>(type: "integer", nullable: false),
                    changed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    retired_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_partition_layouts", x => x.epoch);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "partition_drains");

            migrationBuilder.DropTable(
                name: "partition_layouts");
        }
    }
}
