using KbSync.Producer.Api.Dashboard;

namespace KbSync.UnitTests.Api;

public sealed class SignInReturnUrlTests
{
    [Theory]
    [InlineData("/dashboard?kb=team&range=7d")]
    [InlineData("/")]
    [InlineData("/kbs")]
    public void A_path_of_this_site_is_where_signing_in_returns(string returnUrl) =>
        Assert.Equal(returnUrl, SignInPage.LocalPath(returnUrl));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("https://evil.example/")]
    [InlineData("//evil.example/dashboard")]
    [InlineData("/\\evil.example")]
    [InlineData("dashboard")]
    [InlineData("javascript:alert(1)")]
    [InlineData("/\r\nSet-Cookie: x=1")]
    public void Anything_else_returns_to_the_dashboard_so_sign_in_never_redirects_to_another_site(string? returnUrl) =>
        Assert.Equal(SignInPage.DefaultReturnUrl, SignInPage.LocalPath(returnUrl));
}
