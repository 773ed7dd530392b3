using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KbSync.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class AddPushed : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "pushed",
                table: "operations",
                type: "boolean",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "pushed",
                table: "operations");
        }
    }
}
