// Posts the SAML message of the page at once (templates/saml/post.html); without
// JavaScript, its « Continuer » button does.
document.getElementById("saml-post").submit();
